package reports_test

import (
	"context"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/citybench/citybench/reports"
	"github.com/citybench/citybench/reports/result"
	"github.com/citybench/citybench/reports/synth"
)

// recordedResult is a real embedded run committed by the harness.
const recordedResult = "testdata/embedded-smoke/result.json"

// testResult prefers the recorded run and falls back to a synthetic one until it exists.
func testResult(t *testing.T) *result.Result {
	t.Helper()
	if _, err := os.Stat(recordedResult); err == nil {
		r, err := result.Load(recordedResult)
		if err != nil {
			t.Fatalf("recorded result: %v", err)
		}
		return r
	}
	t.Logf("%s not there yet: using a synthetic result", recordedResult)
	r, err := synth.Result(synth.WithSeed(11))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRenderWritesEverything(t *testing.T) {
	r := testResult(t)
	dir := t.TempDir()
	if err := reports.Render(context.Background(), r, dir); err != nil {
		t.Fatal(err)
	}
	want := []string{"index.html", "timeseries.csv", "throughput.png", "throughput.svg", "spectrum.png", "hops.png",
		"availability.png", "errors.png", "connections.png"}
	for _, st := range r.Stages {
		want = append(want, "latency-"+st.Stage+".png", "spectrum-"+st.Stage+".svg", st.Stage+".hlog")
	}
	if len(r.Resources) > 0 {
		want = append(want, "cpu.png", "memory.svg")
	}
	for _, name := range want {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.Size() == 0 {
			t.Errorf("%s missing or empty: %v", name, err)
		}
	}
	page, err := os.ReadFile(filepath.Join(dir, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{r.Meta.Scenario, r.Meta.ScenarioHash, `id="stages"`, `id="delivery"`, "data:image/png;base64,"} {
		if !strings.Contains(string(page), s) {
			t.Errorf("index.html lacks %q", s)
		}
	}
	if strings.Contains(string(page), "http://") || strings.Contains(string(page), "https://") {
		t.Error("index.html refers to the network; it must open offline")
	}
}

func TestRenderBanners(t *testing.T) {
	base, err := synth.Result(synth.WithSeed(2), synth.WithDuration(8, 2), synth.WithRate(50))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		flags []string
		want  []string
		never []string
	}{
		{"embedded only", []string{result.FlagEmbedded}, []string{`id="embedded"`, "not representative of production capacity"}, []string{`id="partial"`, `id="saturated"`}},
		{"partial", []string{result.FlagPartial}, []string{`id="partial"`}, []string{`id="saturated"`}},
		{"generator saturated", []string{result.FlagGeneratorSaturated}, []string{`id="saturated"`}, []string{`id="partial"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := *base
			r.Flags = tc.flags
			dir := t.TempDir()
			if err := reports.Render(context.Background(), &r, dir); err != nil {
				t.Fatal(err)
			}
			page, err := os.ReadFile(filepath.Join(dir, "index.html"))
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tc.want {
				if !strings.Contains(string(page), s) {
					t.Errorf("page lacks %q", s)
				}
			}
			for _, s := range tc.never {
				if strings.Contains(string(page), s) {
					t.Errorf("page has %q but should not", s)
				}
			}
		})
	}
}

func TestRenderReportsCorruptHistogram(t *testing.T) {
	r, err := synth.Result(synth.WithSeed(2), synth.WithDuration(6, 1), synth.WithRate(50))
	if err != nil {
		t.Fatal(err)
	}
	r.Stages[2].LatencyHDR = base64.StdEncoding.EncodeToString([]byte("not a histogram"))
	dir := t.TempDir()
	err = reports.Render(context.Background(), r, dir)
	if err == nil {
		t.Fatal("want an error naming the chart that could not be drawn")
	}
	page, rerr := os.ReadFile(filepath.Join(dir, "index.html"))
	if rerr != nil {
		t.Fatalf("the rest of the report must still be written: %v", rerr)
	}
	if !strings.Contains(string(page), "Report problem") {
		t.Error("the page must say a chart is missing")
	}
}

func TestRenderHonoursCancel(t *testing.T) {
	r, err := synth.Result(synth.WithSeed(2), synth.WithDuration(6, 1), synth.WithRate(50))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := reports.Render(ctx, r, t.TempDir()); err == nil {
		t.Fatal("a cancelled render must fail")
	}
}

// TestReportInBrowser opens index.html from file:// in headless Chromium: every
// image must load and the console must stay clean. CITYBENCH_SCREENSHOT=path saves a screenshot.
func TestReportInBrowser(t *testing.T) {
	browser := chromiumOrSkip(t)
	r := testResult(t)
	dir := t.TempDir()
	if err := reports.Render(context.Background(), r, dir); err != nil {
		t.Fatal(err)
	}
	checkInBrowser(t, browser, filepath.Join(dir, "index.html"), 10, "")
}

// TestReconnectReportInBrowser opens a report with a reconnect storm and MQTT 5
// reason codes: the page loads clean and shows both tables.
func TestReconnectReportInBrowser(t *testing.T) {
	browser := chromiumOrSkip(t)
	r, err := synth.Result(synth.WithSeed(3), synth.WithDuration(8, 2), synth.WithRate(50))
	if err != nil {
		t.Fatal(err)
	}
	r.Reconnects = []result.ReconnectStorm{{Fleet: "meters-v5", AtS: 4, EndS: 5.2, Devices: 50, Dropped: 50, Reconnected: 50, SessionKept: true,
		SessionResumed: 50, Attempts: 52, NetworkFailures: 2, ConnectLatency: result.Quantiles{Count: 50, P50Us: 1800, P99Us: 9000}, ConnectRatePeak: 41, ConnectRateMean: 41.6}}
	r.MQTT5ReasonCodes = map[string]map[string]int64{"connack": {"0x00 success": 100}}
	dir := t.TempDir()
	if err := reports.Render(context.Background(), r, dir); err != nil {
		t.Fatal(err)
	}
	text := checkInBrowser(t, browser, filepath.Join(dir, "index.html"), 10,
		`document.getElementById("reconnects").innerText + "\n" + document.getElementById("mqtt5-reason-codes").innerText`)
	for _, w := range []string{"meters-v5", "1.8ms", "0x00 success"} {
		if !strings.Contains(text, w) {
			t.Errorf("page text lacks %q:\n%s", w, text)
		}
	}
}

// chromiumOrSkip finds Chromium, or skips — unless $CHROMIUM is set, which makes the test required.
func chromiumOrSkip(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	browser := ""
	if p := os.Getenv("CHROMIUM"); p != "" { // set means required: CI sets it so the test cannot skip
		var err error
		if browser, err = exec.LookPath(p); err != nil {
			t.Fatalf("CHROMIUM=%s is not executable: %v", p, err)
		}
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); browser == "" && err == nil {
			browser = p
		}
	}
	if browser == "" {
		t.Skip("no Chromium on PATH: apt-get install -y chromium (make chromium) to run the browser test")
	}
	return browser
}

// checkInBrowser opens page in headless Chromium and fails unless at least
// minImages images load and the console stays clean. A non-empty textJS is
// evaluated on the page and its string returned, for the caller's own checks.
func checkInBrowser(t *testing.T, browser, page string, minImages int, textJS string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.NoSandbox)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	if err := chromedp.Do(bctx); err != nil { // start the browser before listening
		t.Fatalf("start chromium: %v", err)
	}

	cctx, ccancel := context.WithCancel(bctx)
	var (
		mu       sync.Mutex
		messages []chromedp.ConsoleMessage
		wg       sync.WaitGroup
	)
	console := chromedp.Console(cctx)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for m, err := range console {
			if err != nil {
				return
			}
			mu.Lock()
			messages = append(messages, m)
			mu.Unlock()
		}
	}()

	url := "file://" + page
	if err := chromedp.Do(bctx, chromedp.EmulateViewport(1280, 900), chromedp.Navigate(url)); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	type img struct {
		Src      string `json:"src"`
		Complete bool   `json:"complete"`
		Width    int    `json:"naturalWidth"`
	}
	imgs, err := chromedp.Run(bctx, chromedp.Evaluate[[]img](
		`Array.from(document.images).map(i => ({src: i.src.slice(0, 40), complete: i.complete, naturalWidth: i.naturalWidth}))`))
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) < minImages {
		t.Errorf("page shows %d images, want every chart (%d)", len(imgs), minImages)
	}
	for i, im := range imgs {
		if !im.Complete || im.Width == 0 {
			t.Errorf("image %d (%s…) did not load: complete=%v naturalWidth=%d", i, im.Src, im.Complete, im.Width)
		}
	}
	text := ""
	if textJS != "" {
		if text, err = chromedp.Run(bctx, chromedp.Evaluate[string](textJS)); err != nil {
			t.Fatal(err)
		}
	}
	if shot := os.Getenv("CITYBENCH_SCREENSHOT"); shot != "" {
		png, err := chromedp.Run(bctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(shot, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond) // let late console messages arrive
	ccancel()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	for _, m := range messages {
		if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException || m.Type == chromedp.ConsoleWarning {
			t.Errorf("console %s: %s", m.Type, m.Text)
		}
	}
	return text
}

func TestRenderEmptyResult(t *testing.T) {
	// A run interrupted before its first interval still gets a page, not a panic.
	r := &result.Result{SchemaVersion: result.SchemaVersion, Flags: []string{result.FlagPartial}}
	dir := t.TempDir()
	if err := reports.Render(context.Background(), r, dir); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(filepath.Join(dir, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(page), `id="partial"`) || !strings.Contains(string(page), "(no data)") {
		t.Error("an empty partial run should show the partial banner and empty charts")
	}
}
