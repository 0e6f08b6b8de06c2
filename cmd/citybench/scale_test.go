package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/citybench/citybench/harness/limits"
	"github.com/citybench/citybench/harness/schedule"
	"github.com/citybench/citybench/pipeline/service"
	"github.com/citybench/citybench/reports/result"
	"github.com/citybench/citybench/reports/synth"
	"github.com/citybench/citybench/scenarios"
)

// TestScaleFlagsRefuseBadInput checks that every segment, worker and capacity
// mistake is refused with exit 2 before anything starts.
func TestScaleFlagsRefuseBadInput(t *testing.T) {
	m, err := limits.Read()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	fleet := func(name string, devices int) string {
		path := filepath.Join(dir, name+".yaml")
		if err := os.WriteFile(path, []byte(strings.ReplaceAll(strings.ReplaceAll(`name: NAME
duration: 5s
fleets:
  - {name: m, devices: N, model: m, topic: "c/{device}", codec: json, qos: 1, sensors: [{metric: x, mean: 1, stddev: 1}], arrival: {kind: fixed, interval: 60s}}
`, "N", itoa(devices)), "NAME", name)), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	// One device more than this machine's embedded broker can hold in one process,
	// and one more than the embedded target holds with the devices in the same process.
	big := fleet("big", m.Devices(limits.FilesPerDevice)+1)
	medium := fleet("medium", m.Devices(limits.FilesPerEmbeddedDevice)+1)
	// More devices than one port range reaches a remote broker with.
	ports := fleet("ports", m.PortsPerAddr+1)
	t.Setenv(service.EnvMQTTURL, "tcp://192.0.2.10:1883") // TEST-NET-1: never dialled, the preflight refuses first
	smoke := filepath.Join("..", "..", "scenarios", "smoke.yaml")
	burst := filepath.Join("..", "..", "scenarios", "experiment", "testdata", "tiny", "burst-qos1.yaml")
	out := filepath.Join(dir, "out")
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"embedded above its broker's limit", []string{"run", big, "--out", out}, []string{"open-file limit", "--target containers"}},
		{"validate names the limit", []string{"validate", big}, []string{big, "target embedded on this machine", "open-file limit"}},
		{"ports to a remote broker", []string{"run", ports, "--target", "external", "--out", out}, []string{"ephemeral ports", service.EnvMQTTURL}},
		{"segment out of range", []string{"run", smoke, "--segment", "3/3", "--out", out}, []string{"--segment", "0 ≤ i < n"}},
		{"segment not i/n", []string{"run", smoke, "--segment", "half", "--out", out}, []string{"want i/n"}},
		{"segment and workers", []string{"run", smoke, "--target", "containers", "--segment", "0/2", "--workers", "2", "--out", out}, []string{"give one of them"}},
		{"bad start time", []string{"run", smoke, "--start-at", "soon", "--out", out}, []string{"RFC 3339"}},
		{"one worker for an embedded run that needs two", []string{"run", medium, "--workers", "1", "--out", out}, []string{"--workers 1", "leave --workers out"}},
		{"merge nothing", []string{"merge"}, []string{"segments' run folders"}},
		{"burst in a segment", []string{"run", burst, "--segment", "0/2", "--out", out}, []string{burst, "burst", "one process"}},
		{"burst over workers", []string{"run", burst, "--workers", "2", "--out", out}, []string{burst, "burst", "2 workers"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, code := runCmd(newRootCmd(), tt.args...)
			if code != exitInvalid {
				t.Fatalf("exit %d, want %d: %s", code, exitInvalid, msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q does not say %q", msg, w)
				}
			}
		})
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a refused run created its run folder")
	}
}

// TestMergeCmd merges two halves of one (synthetic) run and refuses a set with
// a half missing.
func TestMergeCmd(t *testing.T) {
	dir := t.TempDir()
	var dirs []string
	for i, seg := range []string{"0/2", "1/2"} {
		r, err := synth.Result(synth.WithSeed(uint64(7 + i)))
		if err != nil {
			t.Fatal(err)
		}
		r.Meta.Segment, r.Meta.Seed = seg, 7 // two different synthetic halves of one run
		d := filepath.Join(dir, "segment-"+itoa(i))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := r.Save(filepath.Join(d, "result.json")); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, d)
	}
	if msg, code := runCmd(newRootCmd(), "merge", dirs[0], "--no-report", "--out", filepath.Join(dir, "half")); code != exitInvalid || !strings.Contains(msg, "1/2 missing") {
		t.Fatalf("merge of one half: exit %d: %s", code, msg)
	}
	merged := filepath.Join(dir, "merged")
	msg, code := runCmd(newRootCmd(), append([]string{"merge", "--no-report", "--out", merged}, dirs...)...)
	if code != exitOK && code != exitSLOFails {
		t.Fatalf("merge: exit %d: %s", code, msg)
	}
	r, err := result.Load(filepath.Join(merged, "result.json"))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := result.Load(filepath.Join(dirs[0], "result.json"))
	b, _ := result.Load(filepath.Join(dirs[1], "result.json"))
	for _, s := range r.Stages {
		want := a.Stage(s.Stage).Delivery.Expected + b.Stage(s.Stage).Delivery.Expected
		if s.Delivery.Expected != want || s.Latency.Count != a.Stage(s.Stage).Latency.Count+b.Stage(s.Stage).Latency.Count {
			t.Errorf("stage %s: merged expected %d (want %d), latency count %d", s.Stage, s.Delivery.Expected, want, s.Latency.Count)
		}
	}
	if r.Meta.Segments != 2 || len(r.Workers) != 2 || !strings.Contains(msg, "worker 1/2") {
		t.Errorf("merged: %d segments, %d workers; summary:\n%s", r.Meta.Segments, len(r.Workers), msg)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestWorkerCount checks how a run is split on a machine whose processes hold
// 19,000 devices each (the 20,000-file limit this project runs under).
func TestWorkerCount(t *testing.T) {
	m := limits.Machine{OpenFiles: 20000, PortsPerAddr: 28232}
	city := func(kind string, devices int) *scenarios.Scenario {
		return &scenarios.Scenario{Target: scenarios.Target{Kind: kind}, Fleets: []scenarios.Fleet{{Name: "meter", Devices: devices * 4 / 5}, {Name: "air", Devices: devices / 5}}}
	}
	tests := []struct {
		name    string
		sc      *scenarios.Scenario
		seg     schedule.Segment
		asked   int
		want    int
		errText string
	}{
		{name: "fits one process", sc: city("containers", 19000), seg: schedule.Whole, want: 1},
		{name: "50,000 devices need three", sc: city("containers", 50000), seg: schedule.Whole, want: 3},
		{name: "asked for more than needed", sc: city("containers", 50000), seg: schedule.Whole, asked: 5, want: 5},
		{name: "asked for too few", sc: city("containers", 50000), seg: schedule.Whole, asked: 2, errText: "use --workers 3 or more"},
		{name: "a segment runs here", sc: city("containers", 50000), seg: schedule.Segment{I: 1, N: 3}, want: 1},
		{name: "a segment too big", sc: city("containers", 50000), seg: schedule.Segment{I: 0, N: 2}, errText: "at least 3 segments"},
		{name: "workers with tls", sc: func() *scenarios.Scenario { sc := city("containers", 50000); sc.Target.Security = "tls"; return sc }(), seg: schedule.Whole, errText: "tls"},
		{name: "embedded within its limit", sc: city("embedded", 9500), seg: schedule.Whole, want: 1},
		{name: "embedded above it: the devices move to workers", sc: city("", 10000), seg: schedule.Whole, want: 2},
		{name: "embedded, one worker asked for", sc: city("", 10000), seg: schedule.Whole, asked: 1, errText: "--workers 1"},
		{name: "embedded above its broker's limit", sc: city("embedded", 20000), seg: schedule.Whole, errText: "--target containers"},
		{name: "embedded segment above the in-process limit", sc: city("embedded", 30000), seg: schedule.Segment{I: 0, N: 3}, errText: "more segments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := workerCount(tt.sc, tt.seg, tt.asked, m)
			if tt.errText != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errText) {
					t.Fatalf("workerCount = %d, %v; want an error saying %q", got, err, tt.errText)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("workerCount = %d, %v; want %d", got, err, tt.want)
			}
		})
	}
}
