package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/citybench/citybench/reports/result"
)

// TestSummaryNamesTapOutagesAndUnverified: the console tells the taps' own
// outages and unverified messages apart from the pipeline's loss.
func TestSummaryNamesTapOutagesAndUnverified(t *testing.T) {
	r := &result.Result{
		Stages: []result.StageSummary{{Stage: "store", Delivery: result.Delivery{Expected: 10, Delivered: 7, Lost: 1, Unverified: 2}}},
		TapOutages: []result.TapOutage{
			{Tap: "kafka", FromS: 24.08, ToS: 35.31, Reason: "partition 3: connection refused"},
			{Tap: "api", FromS: 50, ToS: 61, Reason: "503", Open: true},
		},
	}
	var out bytes.Buffer
	printSummary(&out, r)
	for _, want := range []string{
		"lost  unverified",
		"store        10          7     1           2",
		"tap unavailable: kafka tap 24.1–35.3 s: partition 3: connection refused (the harness's outage, not pipeline loss)",
		"tap unavailable: api tap 50.0–61.0 s, still unavailable at the end: 503",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
}
