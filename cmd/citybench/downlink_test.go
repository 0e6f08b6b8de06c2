package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/citybench/citybench/reports/result"
)

func TestSummaryShowsCommands(t *testing.T) {
	r := &result.Result{Downlink: &result.Downlink{Commands: 200, Errors: 1,
		Stages:   []result.StageSummary{{Stage: result.StageCommandAcked, Delivery: result.Delivery{Expected: 200, Delivered: 199, Lost: 1}, Latency: result.Quantiles{P99Us: 164000}}},
		Severity: &result.SeverityReports{Sent: 631, Seen: 630}}}
	var out bytes.Buffer
	printSummary(&out, r)
	for _, want := range []string{
		"downlink: 200 commands",
		"command_acked       200        199     1",
		"164ms",
		"downlink errors 1",
		"severity-mode reports on control topics: 631 sent, 630 seen by the harness",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
}
