package main

import (
	"bytes"
	"path/filepath"
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
