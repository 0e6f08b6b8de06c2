package harness_test

import (
	"testing"

	"github.com/citybench/citybench/harness"
	"github.com/citybench/citybench/reports/result"
	"github.com/citybench/citybench/scenarios"
)

// runLossless runs a catalog scenario on the embedded pipeline (skipped with
// -short; what says why) and fails t unless it lost nothing.
func runLossless(t *testing.T, file, what string) (*scenarios.Scenario, *result.Result) {
	t.Helper()
	if testing.Short() {
		t.Skip(what + "; skipped with -short")
	}
	sc, err := scenarios.Load("../scenarios/" + file)
	if err != nil {
		t.Fatal(err)
	}
	res, _ := run(t, sc, harness.Options{})
	lossless(t, res)
	return sc, res
}

// lossless fails t unless every stage of res delivered everything it expected.
func lossless(t *testing.T, res *result.Result) {
	t.Helper()
	for _, s := range res.Stages {
		if s.Delivery.Expected == 0 || s.Delivery.Lost != 0 || s.Delivery.Unverified != 0 || s.Delivery.Delivered < s.Delivery.Expected {
			t.Errorf("stage %s: %+v — want every expected message delivered", s.Stage, s.Delivery)
		}
	}
	if n := res.Counters["errors"]; n != 0 {
		t.Errorf("%d errors", n)
	}
}

// TestMixedProtocolsCatalog runs the catalog's MQTT 3.1.1 + MQTT 5 scenario
// on the embedded pipeline: no loss at any stage, and the MQTT 5 devices'
// CONNACKs and PUBACKs counted by reason code.
func TestMixedProtocolsCatalog(t *testing.T) {
	sc, res := runLossless(t, "mqtt5-mixed.yaml", "12 s end-to-end run")
	v5 := 0
	for _, f := range sc.Fleets {
		if f.Protocol == scenarios.Protocol5 {
			v5 += f.Devices
		}
	}
	rc := res.MQTT5ReasonCodes
	if got := rc["connack"]["0x00 success"]; got != int64(v5) {
		t.Errorf("%d successful MQTT 5 CONNACKs, want %d (reason codes %v)", got, v5, rc)
	}
	if rc["puback"]["0x00 success"] == 0 || len(rc["puback"]) != 1 {
		t.Errorf("PUBACK reason codes %v, want only successes", rc["puback"])
	}
}

// TestReconnectStormCatalog runs the catalog's reconnect storm — 2,000
// devices, half on each protocol, drop every connection at once — on the
// embedded pipeline: each device reconnects and resumes its session, the
// result has connect-rate and connect-latency figures, and the store loses
// nothing.
func TestReconnectStormCatalog(t *testing.T) {
	sc, res := runLossless(t, "reconnect-storm.yaml", "40 s end-to-end run with 2,000 devices")
	if len(res.Reconnects) != len(sc.Fleets) {
		t.Fatalf("%d reconnect storms reported, want %d", len(res.Reconnects), len(sc.Fleets))
	}
	for _, st := range res.Reconnects {
		if st.Dropped != st.Devices || st.Reconnected != st.Dropped || st.SessionResumed != st.Dropped || !st.SessionKept {
			t.Errorf("fleet %s: %d devices, dropped %d, reconnected %d, resumed %d", st.Fleet, st.Devices, st.Dropped, st.Reconnected, st.SessionResumed)
		}
		if st.ConnectLatency.Count != int64(st.Reconnected) || st.ConnectLatency.P99Us <= 0 || st.ConnectRatePeak <= 0 || st.ConnectRateMean <= 0 {
			t.Errorf("fleet %s: connect latency %+v, rate peak %.0f/s mean %.1f/s", st.Fleet, st.ConnectLatency, st.ConnectRatePeak, st.ConnectRateMean)
		}
		t.Logf("fleet %s: %d reconnected in %.2f s (peak %.0f/s, mean %.0f/s), connect p50 %s p99 %s, %d attempts, %d queued",
			st.Fleet, st.Reconnected, st.EndS-st.AtS, st.ConnectRatePeak, st.ConnectRateMean,
			result.FormatUs(st.ConnectLatency.P50Us), result.FormatUs(st.ConnectLatency.P99Us), st.Attempts, st.Queued)
	}
	storms := 0
	for _, f := range res.Faults {
		if f.Kind == harness.FaultReconnectStorm {
			storms++
		}
	}
	if storms != len(sc.Fleets) {
		t.Errorf("%d reconnect storms on the time line, want %d", storms, len(sc.Fleets))
	}
}
