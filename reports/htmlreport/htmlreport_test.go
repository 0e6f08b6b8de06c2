package htmlreport

import (
	"bytes"
	"strings"
	"testing"

	"github.com/citybench/citybench/reports/result"
)

func TestFormatting(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{msString(1500), "1.5 ms"},
		{msString(47712), "47.7 ms"},
		{msString(1_170_000), "1170 ms"},
		{msString(80), "0.08 ms"},
		{ratioPct(1, 400), "0.250 %"},
		{ratioPct(5, 0), "—"},
		{bytesString(24 << 30), "24.0 GiB"},
		{bytesString(0), "—"},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestPageEscapesAndCountsSLOs(t *testing.T) {
	r := &result.Result{
		Meta: result.Meta{Scenario: `<script>alert(1)</script>`, Target: result.Target{Kind: "containers"}},
		SLOs: []result.SLOVerdict{{Expr: "store.latency.p99 < 500ms", Pass: false}, {Expr: "store.loss == 0", Pass: true}},
		Stages: []result.StageSummary{{Stage: "api", Sampled: true, Note: "polled every 250 ms"},
			{Stage: "store", Delivery: result.Delivery{Expected: 10, Delivered: 7, Lost: 1, Unverified: 2}}},
		TapOutages: []result.TapOutage{{Tap: "kafka", FromS: 12.5, ToS: 21, Reason: "partition 2: connection refused"}},
	}
	var buf bytes.Buffer
	if err := Write(&buf, r, Page{Charts: []Chart{{Name: "throughput", Title: "T", PNG: []byte("\x89PNG")}}, Problems: []string{"no spectrum for kafka"}}); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	tests := []struct {
		what string
		want bool
	}{
		{"<script>alert(1)</script>", false},
		{"&lt;script&gt;", true},
		{"1 of 2 failed", true},
		{"sampled. polled every 250 ms", true},
		{`src="data:image/png;base64,iVBORw=="`, true},
		{"Report problem: no spectrum for kafka", true},
		{`id="embedded"`, false},                        // containers target: no embedded banner
		{"<td>1</td><td>10.000 %</td><td>2</td>", true}, // store: lost, loss, unverified
		{`<td class="l">kafka</td><td>12.5</td><td>21.0</td><td>8.5</td><td class="l">partition 2: connection refused</td>`, true},
	}
	for _, tc := range tests {
		if strings.Contains(page, tc.what) != tc.want {
			t.Errorf("page contains %q = %v, want %v", tc.what, !tc.want, tc.want)
		}
	}
}
