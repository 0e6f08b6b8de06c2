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
		Meta: result.Meta{Scenario: `<script>alert(1)</script>`, Target: result.Target{Kind: "containers"},
			Command: &result.Command{Args: []string{"citybench", "run", "smoke.yaml", "--target=containers"}, Overrides: map[string]string{"target.kind": "containers"}}},
		SLOs: []result.SLOVerdict{
			{Expr: "store.latency.p99 < 500ms", Observed: 612_000, Threshold: 500_000, Unit: result.UnitMicroseconds, Pass: false},
			{Expr: "store.loss_ratio < 0.1%", Observed: 0, Threshold: 0.001, Unit: result.UnitRatio, Pass: true},
		},
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
		// Thresholds read as the console prints them, not in the result's raw units.
		{"<td>612ms</td><td>500ms</td>", true},
		{"<td>0%</td><td>0.1%</td>", true},
		{"500000", false},
		{"<code>citybench run smoke.yaml --target=containers</code>", true},
		{"<code>target.kind=containers</code>", true},
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

func TestPageShowsWorkers(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    *result.Result
		want []string
		not  []string
	}{
		{"one process", &result.Result{}, nil, []string{`id="workers"`, "merged from", ">segment<"}},
		{"a segment", &result.Result{Meta: result.Meta{Segment: "1/3"}}, []string{"1/3 of the scenario's devices"}, []string{`id="workers"`}},
		{"merged", &result.Result{Meta: result.Meta{Segments: 2}, Workers: []result.Worker{
			{Segment: "0/2", Devices: 10, GeneratorLag: result.Quantiles{P99Us: 1500}},
			{Segment: "1/2", Devices: 9, Saturated: true},
		}}, []string{`id="workers"`, "2 segments", "<td class=\"l\">0/2</td><td>10</td>", "1.5ms", `<span class="fail">saturated</span>`}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Write(&buf, tc.r, Page{}); err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(buf.String(), w) {
					t.Errorf("page lacks %q", w)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(buf.String(), w) {
					t.Errorf("page has %q", w)
				}
			}
		})
	}
}

// TestPageShowsMalformedAndReplays renders the bad-input sections: per-kind
// counts with their reasons, the unverified banner, and the replay figures.
func TestPageShowsMalformedAndReplays(t *testing.T) {
	r := &result.Result{
		Meta: result.Meta{Scenario: "bad", Target: result.Target{Kind: "containers"}},
		Malformed: &result.Malformed{Verified: false,
			Kinds:     []result.MalformedKind{{Kind: "oversize", Injected: 39, DeadLettered: 38, Stored: 1, Reasons: map[string]int64{"oversize": 38}}},
			Total:     result.MalformedKind{Kind: "total", Injected: 39, DeadLettered: 38, Stored: 1},
			Unmatched: map[string]int64{"bad_name": 2}},
		Replays: []result.Replay{{Fleet: "epa", File: "data/epa-sample.csv", Sites: 3, Rows: 42, RowsReplayed: 42, Messages: 42, EmptyCells: 14}},
	}
	var buf bytes.Buffer
	if err := Write(&buf, r, Page{}); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	for _, want := range []string{
		`<table id="malformed">`,
		`<td class="l">oversize</td><td>39</td><td>38</td><td>1</td>`,
		`<code>oversize</code> 38`,
		"dead letters were not counted",
		`<code>bad_name</code> 2`,
		`<table id="replays">`,
		`<td>3</td><td>42</td><td>42</td><td>42</td><td>0</td><td>14</td>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

func TestPageShowsReconnectStormsAndReasonCodes(t *testing.T) {
	r := &result.Result{
		Reconnects: []result.ReconnectStorm{{Fleet: "meters-v5", AtS: 15, EndS: 18.5, Devices: 1000, Dropped: 1000, Reconnected: 1000,
			SessionKept: true, SessionResumed: 998, Attempts: 1003, ConnackFailures: map[string]int64{"0x89 server busy": 3},
			ConnectLatency: result.Quantiles{P50Us: 2500, P99Us: 41_000}, ConnectRatePeak: 412, ConnectRateMean: 285.7, Queued: 250}},
		MQTT5ReasonCodes: map[string]map[string]int64{"puback": {"0x00 success": 9000, "0x10 no matching subscribers": 2}},
	}
	var buf bytes.Buffer
	if err := Write(&buf, r, Page{}); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{`id="reconnects"`, "<td class=\"l\">meters-v5</td><td>15.0</td><td>3.5</td><td>1000</td>", "<td>998</td>",
		"0x89 server busy: 3", "2.5ms", "41ms", "<td>412</td>", "<td>286</td>",
		`id="mqtt5-reason-codes"`, "<td class=\"l\">puback</td><td class=\"l\">0x10 no matching subscribers</td><td>2</td>"} {
		if !strings.Contains(buf.String(), w) {
			t.Errorf("page lacks %q", w)
		}
	}
	buf.Reset()
	if err := Write(&buf, &result.Result{}, Page{}); err != nil {
		t.Fatal(err)
	}
	if s := buf.String(); strings.Contains(s, `id="reconnects"`) || strings.Contains(s, `id="mqtt5-reason-codes"`) {
		t.Error("a run without storms or MQTT 5 shows their tables")
	}
}
