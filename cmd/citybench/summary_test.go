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

// TestSummaryShowsReconnectStorms: connect rate, connect latency, CONNACK
// failures and resumed sessions reach the console, and MQTT 5 reason codes too.
func TestSummaryShowsReconnectStorms(t *testing.T) {
	r := &result.Result{
		Reconnects: []result.ReconnectStorm{{Fleet: "meters", AtS: 15, EndS: 21.5, Devices: 2000, Dropped: 2000, Reconnected: 2000, SessionKept: true,
			SessionResumed: 1999, Attempts: 2010, ConnackFailures: map[string]int64{"3 server unavailable": 10},
			ConnectLatency: result.Quantiles{P50Us: 2100, P99Us: 48_000, MaxUs: 90_000}, ConnectRatePeak: 640, ConnectRateMean: 307.7, Queued: 512}},
		MQTT5ReasonCodes: map[string]map[string]int64{"puback": {"0x00 success": 40, "0x97 quota exceeded": 1}},
	}
	var out bytes.Buffer
	printSummary(&out, r)
	for _, want := range []string{
		"reconnect storm", "meters", "+6.5s", "2000/2000", "1999", "3 server unavailable: 10", "2.1ms", "48ms", "640", "307.7", "512",
		"MQTT 5 puback reason codes: 0x00 success: 40, 0x97 quota exceeded: 1",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
}
