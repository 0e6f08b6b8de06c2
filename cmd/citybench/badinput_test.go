package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/citybench/citybench/reports/result"
)

func TestRunRefusesMalformedWithSegments(t *testing.T) {
	sc := filepath.Join("..", "..", "scenarios", "malformed.yaml")
	code, _, err := runCLI(t, "run", sc, "--segment", "1/2", "--out", t.TempDir(), "--no-report", "-q")
	if code != exitInvalid {
		t.Fatalf("exit %d (%v), want %d", code, err, exitInvalid)
	}
	if want := "malformed.yaml:20: fleets[0].malformed: not supported with worker processes or --segment"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q lacks %q", err, want)
	}
}

func TestSummaryShowsBadInput(t *testing.T) {
	r := &result.Result{
		Replays: []result.Replay{{Fleet: "epa", File: "data/epa-sample.csv", Sites: 3, Rows: 42, RowsReplayed: 42, Messages: 42, EmptyCells: 14}},
		Malformed: &result.Malformed{Verified: true,
			Kinds: []result.MalformedKind{{Kind: "oversize", Injected: 39, DeadLettered: 39, Reasons: map[string]int64{"oversize": 39}}},
			Total: result.MalformedKind{Kind: "total", Injected: 39, DeadLettered: 39, Reasons: map[string]int64{"oversize": 39}}},
	}
	var out bytes.Buffer
	printSummary(&out, r)
	for _, want := range []string{
		"replay epa: 3 sites of data/epa-sample.csv, 42 of 42 rows sent as 42 messages; 0 missing days and 14 empty cells",
		"oversize        39             39       0        0  oversize=39",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
}
