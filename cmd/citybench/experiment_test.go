package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/citybench/citybench/reports/exptable"
)

func TestExperimentCmdInvalid(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no name", nil, "give one experiment name or folder"},
		{"unknown experiment", []string{"no-such-experiment"}, "read experiment"},
		{"bad description", []string{"../../scenarios/experiment/testdata/bad"}, `experiment.yaml:8: rows[0].cells.a.scenario`},
		{"bad repeat", []string{"--repeat", "0", "table1"}, "--repeat 0"},
		{"bad broker", []string{"--broker", "emqx", "../../scenarios/experiments/table1"}, `--broker "emqx"`},
		{"broker the embedded target cannot honour", []string{"--broker", "hivemq", "../../scenarios/experiments/table1"}, "target.broker: the embedded target runs its own broker"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, code := runCmd(newExperimentCmd(), tt.args...)
			if code != exitInvalid || !strings.Contains(out, tt.want) {
				t.Errorf("exit %d, output %q: want %d and %q", code, out, exitInvalid, tt.want)
			}
		})
	}
}

func TestExperimentCmdList(t *testing.T) {
	t.Chdir(filepath.Join("..", ".."))
	out, code := runCmd(newExperimentCmd(), "--list")
	if code != exitOK || !strings.Contains(out, "table1") || !strings.Contains(out, "10 cells") {
		t.Errorf("exit %d, output %q: want table1 with 10 cells", code, out)
	}
}

// TestExperimentCmdRuns runs a two-cell burst experiment twice per cell on the
// embedded target and checks the table it writes.
func TestExperimentCmdRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("four embedded runs; skipped with -short")
	}
	out := t.TempDir()
	text, code := runCmd(newExperimentCmd(), "../../scenarios/experiment/testdata/tiny", "--repeat", "2", "--out", out)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, text)
	}
	for _, want := range []string{"1/4 ", "4/4 ", "store.rate", "| 2 × 50 |", "table: "} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	b, err := os.ReadFile(filepath.Join(out, exptable.JSONFile))
	if err != nil {
		t.Fatal(err)
	}
	var tb exptable.Table
	if err := json.Unmarshal(b, &tb); err != nil {
		t.Fatal(err)
	}
	if len(tb.Runs) != 4 || tb.Target != "embedded" || tb.Repeats != 2 {
		t.Fatalf("experiment.json: %d runs on %s × %d", len(tb.Runs), tb.Target, tb.Repeats)
	}
	for _, c := range tb.Rows[0].Cells {
		if len(c.Values) != 2 || c.Failed != 0 || !(c.Min > 0) || c.Min > c.Median || c.Median > c.Max {
			t.Errorf("cell %s: %+v, want two positive rates", c.Column, c)
		}
	}
	for _, r := range tb.Runs {
		if _, err := os.Stat(filepath.Join(out, r.Result)); err != nil {
			t.Errorf("run result: %v", err)
		}
	}
}
