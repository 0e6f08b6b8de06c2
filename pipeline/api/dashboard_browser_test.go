package api

import (
	"context"
	"encoding/csv"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/citybench/citybench/pipeline/store"
)

// chromiumPath finds a Chromium to drive: $CHROMIUM, else the Debian package's path.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM"); p != "" {
		if _, err := exec.LookPath(p); err != nil {
			t.Fatalf("CHROMIUM=%s is not executable: %v", p, err)
		}
		return p
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	t.Skip("no Chromium: install Debian's chromium package (apt-get install -y chromium) or set CHROMIUM to a Chromium binary")
	return ""
}

// startBrowser starts a headless Chromium with a fresh profile and every
// background service that could reach the network turned off.
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1200, 800),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-breakpad", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("no-pings", true),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first Run starts the browser; it must not carry a timeout (that would
	// bound the browser's whole life), so each step below gets its own.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	return ctx
}

type chartState struct {
	Device  string   `json:"device"`
	Metric  string   `json:"metric"`
	Metrics []string `json:"metrics"`
	Devices []string `json:"devices"`
	Points  int      `json:"points"`
	From    int64    `json:"from"`
	To      int64    `json:"to"`
	First   int64    `json:"first"` // times of the first and last points drawn
	Last    int64    `json:"last"`
	Caption string   `json:"caption"`
	// What was drawn: path commands, dots, and the path's box in SVG units.
	PathCommands int     `json:"pathCommands"`
	Dots         int     `json:"dots"`
	BoxW         float64 `json:"boxW"`
	BoxH         float64 `json:"boxH"`
	YTicks       int     `json:"yTicks"`
	Status       string  `json:"status"`
	ExportHref   string  `json:"exportHref"`
}

const chartStateJS = `(() => {
  const svg = document.getElementById('chart');
  const path = svg.querySelector('path.series');
  const box = path ? path.getBBox() : {width: 0, height: 0};
  return {
    device: document.getElementById('device').value,
    metric: document.getElementById('metric').value,
    metrics: [...document.getElementById('metric').options].map(o => o.value),
    devices: [...document.getElementById('device').options].map(o => o.value),
    points: Number(svg.dataset.points || 0),
    from: Number(svg.dataset.from || 0),
    to: Number(svg.dataset.to || 0),
    first: Number(svg.dataset.first || 0),
    last: Number(svg.dataset.last || 0),
    caption: document.getElementById('caption').textContent,
    pathCommands: path ? (path.getAttribute('d').match(/[ML]/g) || []).length : 0,
    dots: svg.querySelectorAll('circle.dot').length,
    boxW: box.width, boxH: box.height,
    yTicks: svg.querySelectorAll('.axis text').length,
    status: document.getElementById('status').textContent,
    exportHref: document.getElementById('export').getAttribute('href') || '',
  };
})()`

// page is one browser tab on the dashboard, recording console problems.
type page struct {
	t   *testing.T
	ctx context.Context

	mu       sync.Mutex
	problems []string
}

// openPage opens a tab of the browser at url. Console errors, warnings and
// uncaught exceptions are collected from the start, before the page loads.
func openPage(t *testing.T, browserCtx context.Context, url string) *page {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browserCtx)
	t.Cleanup(cancel)
	p := &page{t: t, ctx: ctx}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return // the tab's context ended
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleWarning || m.IsException() {
				p.mu.Lock()
				p.problems = append(p.problems, m.String()+" at "+m.URL)
				p.mu.Unlock()
			}
		}
	}()
	p.step("load dashboard", chromedp.Navigate(url))
	return p
}

func (p *page) step(name string, a chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, a); err != nil {
		p.t.Fatalf("%s: %v", name, err)
	}
}

// js runs a statement in the page, e.g. to pick an option and fire its change event.
func (p *page) js(name, script string) {
	p.t.Helper()
	p.step(name, chromedp.Evaluate[chromedp.Void](script))
}

func (p *page) state() chartState {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[chartState](chartStateJS))
	if err != nil {
		p.t.Fatalf("read chart state: %v", err)
	}
	return s
}

func (p *page) waitFor(what, predicate string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](predicate, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(15*time.Second)))
	if err != nil {
		p.t.Fatalf("waiting for %s: %v\nstate: %+v", what, err, p.state())
	}
}

// checkConsole fails the test if the page logged any error or warning.
func (p *page) checkConsole() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.problems) > 0 {
		p.t.Errorf("browser console reported problems:\n%s", strings.Join(p.problems, "\n"))
	}
}

func TestDashboardInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	browserCtx := startBrowser(t)
	t.Run("seeded", func(t *testing.T) { testSeededDashboard(t, browserCtx) })
	t.Run("empty store", func(t *testing.T) { testEmptyDashboard(t, browserCtx) })
	t.Run("window beyond the limit", func(t *testing.T) { testTruncatedDashboard(t, browserCtx) })
}

// testTruncatedDashboard: when the window holds more readings than one request
// may return, the chart shows the latest ones, all of them, and says so.
func testTruncatedDashboard(t *testing.T, browserCtx context.Context) {
	st := newTestStore()
	f := seed(t, st, time.Now().Truncate(time.Millisecond))
	const maxLimit = 100
	srv := newLoopbackServer(t, New(st, WithRegistry(prometheus.NewRegistry()), WithLimits(maxLimit, maxLimit), WithLogger(discard())))
	p := openPage(t, browserCtx, srv+"/")
	p.waitFor("chart", `Number(document.getElementById('chart').dataset.points || 0) > 0`)
	s := p.state()
	inWindow := f.want(s.Device, time.UnixMilli(s.From), time.UnixMilli(s.To), s.Metric)
	if len(inWindow) <= maxLimit {
		t.Fatalf("seed has %d readings in the window, want more than %d; test is broken", len(inWindow), maxLimit)
	}
	shown := f.want(s.Device, time.UnixMilli(s.First), time.UnixMilli(s.To), s.Metric)
	if s.Points == 0 || s.Points > maxLimit || s.Points != len(shown) {
		t.Errorf("%d points drawn from %d; want all %d readings from the first drawn one on, at most %d", s.Points, len(inWindow), len(shown), maxLimit)
	}
	if latest := inWindow[len(inWindow)-1].Time.UnixMilli(); s.Last != latest {
		t.Errorf("last point at %d, want the latest reading at %d", s.Last, latest)
	}
	if !strings.Contains(s.Caption, "latest only") {
		t.Errorf("caption %q does not say only the latest readings are shown", s.Caption)
	}
	p.checkConsole()
}

func testEmptyDashboard(t *testing.T, browserCtx context.Context) {
	srv := newLoopbackServer(t, New(newTestStore(), WithRegistry(prometheus.NewRegistry()), WithLogger(discard())))
	p := openPage(t, browserCtx, srv+"/")
	p.waitFor("empty chart", `document.querySelector('#chart text.empty') !== null`)
	text, err := chromedp.Run(p.ctx, chromedp.TextContent("#chart text.empty"))
	if err != nil || text != "No devices yet" {
		t.Errorf("empty chart says %q (%v)", text, err)
	}
	if s := p.state(); s.Points != 0 || len(s.Devices) != 0 || s.ExportHref != "" || strings.HasPrefix(s.Status, "error") {
		t.Errorf("empty store: %+v", s)
	}
	p.checkConsole()
}

func testSeededDashboard(t *testing.T, browserCtx context.Context) {
	st := newTestStore()
	f := seed(t, st, time.Now().Truncate(time.Millisecond))
	srv := newLoopbackServer(t, New(st, WithRegistry(prometheus.NewRegistry()), WithDashboardPoll(400*time.Millisecond), WithLogger(discard())))
	p := openPage(t, browserCtx, srv+"/")

	// checkChart compares what was drawn with what the store holds for the range
	// the page queried.
	checkChart := func(s chartState, device, metric string) {
		t.Helper()
		if s.Device != device || s.Metric != metric {
			t.Fatalf("showing %s/%s, want %s/%s", s.Device, s.Metric, device, metric)
		}
		want := len(f.want(device, time.UnixMilli(s.From), time.UnixMilli(s.To), metric))
		if want == 0 {
			t.Fatalf("seed has no %s/%s readings in the window; test is broken", device, metric)
		}
		if s.Points != want || s.PathCommands != want {
			t.Errorf("%s/%s: %d points, %d path commands; want %d", device, metric, s.Points, s.PathCommands, want)
		}
		if want <= 240 && s.Dots != want {
			t.Errorf("%s/%s: %d dots drawn, want %d", device, metric, s.Dots, want)
		}
		if s.BoxW < 400 || s.BoxH < 20 {
			t.Errorf("%s/%s: series spans %.0fx%.0f SVG units; want a real line", device, metric, s.BoxW, s.BoxH)
		}
		if s.YTicks < 4 {
			t.Errorf("only %d axis labels", s.YTicks)
		}
	}

	p.waitFor("first chart", `Number(document.getElementById('chart').dataset.points || 0) > 0`)
	s := p.state()
	if strings.Join(s.Devices, ",") != "dev-a,dev-b,dev-c" {
		t.Errorf("device picker %v", s.Devices)
	}
	if strings.Join(s.Metrics, ",") != "humidity,temperature" {
		t.Errorf("metric picker %v", s.Metrics)
	}
	if s.To-s.From != time.Hour.Milliseconds() {
		t.Errorf("default window %d ms, want 1 h", s.To-s.From)
	}
	checkChart(s, "dev-a", "humidity")

	p.js("pick temperature", `(() => { const m = document.getElementById('metric'); m.value = 'temperature'; m.dispatchEvent(new Event('change')); })()`)
	p.waitFor("temperature chart", `document.getElementById('chart').dataset.metric === 'temperature'`)
	checkChart(p.state(), "dev-a", "temperature")

	p.js("pick dev-b", `(() => { const d = document.getElementById('device'); d.value = 'dev-b'; d.dispatchEvent(new Event('change')); })()`)
	p.waitFor("dev-b chart", `document.getElementById('chart').dataset.metric === 'co2'`)
	before := p.state()
	checkChart(before, "dev-b", "co2")

	if out := os.Getenv("DASHBOARD_SCREENSHOT"); out != "" {
		buf, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100)) // 100: PNG
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		if err := os.WriteFile(out, buf, 0o644); err != nil {
			t.Fatalf("write screenshot: %v", err)
		}
	}

	// Auto-update on: a reading written now must appear without any user action.
	write := func(seq uint64) {
		t.Helper()
		at := time.Now().Truncate(time.Millisecond) // the store keeps milliseconds
		row := store.Row{DeviceID: "dev-b", Time: at, Seq: seq, Metrics: map[string]float64{"co2": 900}}
		if err := st.WriteReadings(context.Background(), []store.Row{row}); err != nil {
			t.Fatal(err)
		}
		if err := st.UpsertDevices(context.Background(), []store.Device{{ID: "dev-b", Model: "co2-v2", LastSeen: at}}); err != nil {
			t.Fatal(err)
		}
		f.rows = append(f.rows, row)
	}
	p.step("auto-update on", chromedp.Click("#auto"))
	write(1000)
	p.waitFor("polled reading", `document.querySelectorAll('#chart circle.dot').length > `+strconv.Itoa(before.Dots))
	after := p.state()
	checkChart(after, "dev-b", "co2")
	if !strings.Contains(after.Status, "auto-update every") {
		t.Errorf("status %q does not say auto-update is on", after.Status)
	}

	// Auto-update off: later readings must not appear until asked for.
	p.step("auto-update off", chromedp.Click("#auto"))
	time.Sleep(100 * time.Millisecond) // let a poll already in flight land
	off := p.state()
	write(1001)
	time.Sleep(3 * 400 * time.Millisecond)
	if s := p.state(); s.Points != off.Points {
		t.Errorf("chart changed from %d to %d points with auto-update off", off.Points, s.Points)
	}

	// Export: let the browser download the link's target and check the file.
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: ptr(true),
	}); err != nil {
		t.Fatalf("allow downloads: %v", err)
	}
	progress := chromedp.BrowserEvents(ctx, browser.DownloadProgress)
	p.step("click export", chromedp.Click("#export"))
	var file string
	for ev, err := range progress {
		if err != nil {
			t.Fatalf("download: %v", err)
		}
		if ev.State == browser.DownloadProgressStateCanceled {
			t.Fatal("download cancelled")
		}
		if ev.State == browser.DownloadProgressStateCompleted {
			file = filepath.Join(dir, ev.GUID)
			break
		}
	}
	checkCSV(t, file, off, f)
	p.checkConsole()
}

// checkCSV compares the downloaded export with the store: the rows of the
// device and metric the chart showed, over the chart's range.
func checkCSV(t *testing.T, file string, s chartState, f fixture) {
	t.Helper()
	fh, err := os.Open(file)
	if err != nil {
		t.Fatalf("downloaded file: %v", err)
	}
	defer fh.Close()
	recs, err := csv.NewReader(fh).ReadAll()
	if err != nil {
		t.Fatalf("parse CSV: %v", err)
	}
	if len(recs) == 0 || strings.Join(recs[0], ",") != "device_id,time,seq,metric,value" {
		t.Fatalf("CSV header %v", recs[:min(1, len(recs))])
	}
	want := f.want(s.Device, time.UnixMilli(s.From), time.UnixMilli(s.To), s.Metric)
	if len(recs)-1 != len(want) || len(want) != s.Points {
		t.Fatalf("CSV has %d rows; store has %d, chart showed %d", len(recs)-1, len(want), s.Points)
	}
	for i, w := range want {
		got := recs[i+1]
		exp := []string{s.Device, w.Time.UTC().Format(time.RFC3339Nano), strconv.FormatUint(w.Seq, 10), s.Metric, strconv.FormatFloat(w.Metrics[s.Metric], 'g', -1, 64)}
		if strings.Join(got, ",") != strings.Join(exp, ",") {
			t.Fatalf("CSV row %d = %v, want %v", i+1, got, exp)
		}
	}
}

func ptr[T any](v T) *T { return &v }
