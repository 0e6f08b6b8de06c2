package main

import (
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/citybench/citybench/reports/result"
)

// runCLI runs citybench with args in process and returns its exit code, stdout and error.
func runCLI(t *testing.T, args ...string) (int, string, error) {
	t.Helper()
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err := root.Execute()
	if err != nil {
		return exitCode(err), out.String(), err
	}
	return exitOK, out.String(), nil
}

func TestRunRefusesOverridesTheTargetCannotHonour(t *testing.T) {
	smoke := filepath.Join("..", "..", "scenarios", "smoke.yaml")
	code, _, err := runCLI(t, "run", smoke, "--broker", "hivemq", "--out", t.TempDir(), "--no-report", "-q")
	if code != exitInvalid {
		t.Fatalf("exit %d (%v), want %d", code, err, exitInvalid)
	}
	if want := "target.broker: the embedded target runs its own broker"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q lacks %q", err, want)
	}
}

func TestSummaryFormatsSLOsInTheirUnits(t *testing.T) {
	r := &result.Result{SLOs: []result.SLOVerdict{
		{Expr: "store.latency.p99 < 500ms", Observed: 612_000, Threshold: 500_000, Unit: result.UnitMicroseconds},
		{Expr: "store.availability >= 99%", Observed: 0.9995, Threshold: 0.99, Unit: result.UnitRatio, Pass: true},
	}}
	var out bytes.Buffer
	printSummary(&out, r)
	for _, want := range []string{"SLO FAIL  store.latency.p99 < 500ms (observed 612ms)", "SLO PASS  store.availability >= 99% (observed 99.95%)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
}

// TestRunRecordsItsCommandLine runs a tiny scenario on the embedded target and
// reads result.json back: the flags and the target overrides must be there.
func TestRunRecordsItsCommandLine(t *testing.T) {
	dir := t.TempDir()
	scenario := filepath.Join(dir, "tiny.yaml")
	if err := os.WriteFile(scenario, []byte(`name: tiny
warmup: 1s
duration: 2s
drain: 10s
fleets:
  - name: env
    devices: 2
    topic: city/{device}
    codec: json
    qos: 1
    sensors: [{metric: t, mean: 1, stddev: 1}]
    arrival: {kind: fixed, interval: 500ms}
target:
  kind: containers
`), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "run")
	code, _, err := runCLI(t, "run", scenario, "--target", "embedded", "--seed", "7", "--out", out, "--no-report", "-q")
	if code != exitOK {
		t.Fatalf("exit %d: %v", code, err)
	}
	r, err := result.Load(filepath.Join(out, "result.json"))
	if err != nil {
		t.Fatal(err)
	}
	c := r.Meta.Command
	if c == nil {
		t.Fatal("result.json has no command")
	}
	want := []string{"citybench", "run", scenario, "--no-report", "--out=" + out, "--quiet", "--seed=7", "--target=embedded"}
	if !slices.Equal(c.Args, want) {
		t.Errorf("command args\n got %q\nwant %q", c.Args, want)
	}
	if !maps.Equal(c.Overrides, map[string]string{"target.kind": "embedded", "seed": "7"}) {
		t.Errorf("overrides %v", c.Overrides)
	}
	if r.Meta.Seed != 7 || r.Meta.Target.Kind != "embedded" {
		t.Errorf("ran seed %d on %s", r.Meta.Seed, r.Meta.Target.Kind)
	}
}
