package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/citybench/citybench/harness/capacity"
	"github.com/citybench/citybench/reports/result"
)

func TestCapacityRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--by", "weather"},
		{"--precision", "0"},
		{"--max-rate", "-5"},
		{"--step-duration", "1s"},
		{"--step-duration", "10s", "--hold", "5s"},
		{"--interval", "sometimes"},
	} {
		out, code := runCmd(newCapacityCmd(), append([]string{"../../scenarios/smoke.yaml"}, args...)...)
		if code != exitInvalid {
			t.Errorf("%v: exit %d, want %d: %s", args, code, exitInvalid, out)
		}
	}
}

// TestCapacityOnEmbedded runs a tiny search to its --max-rate on the embedded
// pipeline: capacity.json, every step's result and the page are written, and the
// summary names the answer.
func TestCapacityOnEmbedded(t *testing.T) {
	dir := t.TempDir()
	sc := filepath.Join(dir, "tiny.yaml")
	if err := os.WriteFile(sc, []byte(`
name: tiny
seed: 2
warmup: 1s
duration: 2s
drain: 20s
fleets:
  - name: env
    devices: 10
    model: env-v1
    topic: city/{district}/{device}
    locations: {district: [n, s]}
    codec: json
    qos: 1
    sensors:
      - {metric: temperature, mean: 20, stddev: 2}
    arrival: {kind: fixed, interval: 1s, jitter: 20ms}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "cap")
	text, code := runCmd(newCapacityCmd(), sc, "--out", out, "--max-rate", "20", "--step-duration", "2s", "--hold", "2s", "--interval", "60s")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, text)
	}
	t.Log(text)
	c, err := result.LoadCapacity(filepath.Join(out, "capacity.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Steps) == 0 || c.Target.Kind != "embedded" || len(c.Criteria) != len(capacity.Criteria{}.Describe()) {
		t.Fatalf("capacity.json %+v", c)
	}
	for _, s := range c.Steps {
		if _, err := os.Stat(filepath.Join(out, s.ResultFile)); err != nil {
			t.Errorf("step %d result not kept: %v", s.Index, err)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "index.html")); err != nil {
		t.Error(err)
	}
	if err := os.Remove(filepath.Join(out, "index.html")); err != nil {
		t.Fatal(err)
	}
	if text, code := runCmd(newReportCmd(), filepath.Join(out, "capacity.json")); code != exitOK {
		t.Errorf("citybench report capacity.json: exit %d: %s", code, text)
	}
	if _, err := os.Stat(filepath.Join(out, "index.html")); err != nil {
		t.Errorf("report did not rebuild the capacity page: %v", err)
	}
	if !strings.Contains(text, "Highest sustainable rate:") || !strings.Contains(text, "capacity.json") {
		t.Errorf("summary lacks the answer:\n%s", text)
	}
	if c.MaxSustainableRate > 0 && (c.Storage == nil || !c.Storage.Estimate) {
		t.Errorf("storage %+v, want the memory store's labelled estimate", c.Storage)
	}
}
