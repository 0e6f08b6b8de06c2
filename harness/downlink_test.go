package harness_test

import (
	"strings"
	"testing"

	"github.com/citybench/citybench/harness"
	"github.com/citybench/citybench/reports/result"
	"github.com/citybench/citybench/scenarios"
)

// TestDownlinkCatalogScenario runs the catalog's downlink scenario end to end:
// commands to 10 % of 1,000 devices at 10 commands/s for 20 s all reach their
// device and come back acknowledged, with round-trip percentiles, and the
// devices' severity-mode reports are seen on their control topics.
func TestDownlinkCatalogScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("25 s end-to-end run; skipped with -short")
	}
	sc, err := scenarios.Load("../scenarios/downlink.yaml")
	if err != nil {
		t.Fatal(err)
	}
	res, _ := run(t, sc, harness.Options{})
	dl := res.Downlink
	if dl == nil {
		t.Fatal("result has no downlink section")
	}
	if dl.Commands != 200 {
		t.Errorf("commands in the measured window = %d, want 200 (10/s for 20 s)", dl.Commands)
	}
	for _, name := range result.CommandStages {
		st := dl.Stage(name)
		if st == nil {
			t.Fatalf("no stage %s", name)
		}
		d := st.Delivery
		if d.Expected != dl.Commands || d.Delivered != d.Expected || d.Lost != 0 || d.Duplicated != 0 {
			t.Errorf("%s: %+v — want every command once", name, d)
		}
		if st.Latency.Count != d.Delivered || st.Latency.P99Us <= 0 {
			t.Errorf("%s latency %+v: want one sample per command", name, st.Latency)
		}
	}
	rtt, recv := dl.Stage(result.StageCommandAcked), dl.Stage(result.StageCommandDelivered)
	if rtt.Latency.MinUs < recv.Latency.MinUs || rtt.ServiceTime.P50Us > rtt.Latency.P50Us {
		t.Errorf("round trip %+v should take at least as long as delivery %+v, and from sent no longer than from intended", rtt.Latency, recv.Latency)
	}
	if dl.Unknown != nil || dl.Errors != 0 {
		t.Errorf("unknown %v, errors %d: want none", dl.Unknown, dl.Errors)
	}
	if s := dl.Severity; s == nil || s.Sent == 0 || s.Seen != s.Sent {
		t.Errorf("severity reports %+v: want some, every one seen on the control topic", s)
	}
	// The bridge leaves the control plane alone: commands, acknowledgements and
	// severity reports are acknowledged unbridged, none dead-lettered as bad readings.
	if dead, ignored := res.Counters["dead_lettered"], res.Counters["bridge_ignored"]; dead != 0 || ignored < 2*dl.Commands+dl.Severity.Sent {
		t.Errorf("bridge dead-lettered %d and ignored %d: want 0 and at least every command, ack and severity report (%d)", dead, ignored, 2*dl.Commands+dl.Severity.Sent)
	}
	if st := res.Stage(result.StageStore); st == nil || st.Delivery.Lost != 0 {
		t.Errorf("store: %+v — commands must not cost uplink readings", st)
	}
	// The catalog's SLOs judge the command stages; latency bounds depend on the
	// box (a busy one flags the generator), so only that the stages were there
	// to judge (and the losses above) is checked here.
	for _, v := range res.SLOs {
		if strings.Contains(v.Note, "not measured") {
			t.Errorf("SLO %s: %s", v.Expr, v.Note)
		}
	}
}
