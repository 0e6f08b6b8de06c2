package schedule

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/citybench/citybench/scenarios"
)

// TestMalformedMarkingLeavesTheRestAlone: turning malformed on spoils about the
// asked fraction of messages, of every kind, the same ones for the same seed —
// and changes no message's time, topic or values.
func TestMalformedMarkingLeavesTheRestAlone(t *testing.T) {
	clean := mustBuild(t, parse(t, district))
	spoilt := mustBuild(t, parse(t, strings.Replace(district, "    qos: 1\n", "    qos: 1\n    malformed: 0.1\n", 1)))
	again := mustBuild(t, parse(t, strings.Replace(district, "    qos: 1\n", "    qos: 1\n    malformed: 0.1\n", 1)))
	kinds := map[string]int{}
	n, total := 0, 0
	for i, d := range spoilt.Devices {
		c := clean.Devices[i]
		if len(d.Messages) != len(c.Messages) {
			t.Fatalf("device %s: %d messages with malformed on, %d without", d.ID, len(d.Messages), len(c.Messages))
		}
		for j := range d.Messages {
			m, cm := d.Messages[j], c.Messages[j]
			if m.At != cm.At || m.Topic != cm.Topic || m.Seq != cm.Seq || !sameValues(m.Values, cm.Values) {
				t.Fatalf("device %s seq %d changed: %+v vs %+v", d.ID, m.Seq, m, cm)
			}
			if m.Malformed != again.Devices[i].Messages[j].Malformed {
				t.Fatalf("device %s seq %d: marking differs between two builds of the same seed", d.ID, m.Seq)
			}
			total++
			if m.IsMalformed() {
				n++
				kinds[d.MalformedKind(&m)]++
			}
		}
	}
	if frac := float64(n) / float64(total); math.Abs(frac-0.1) > 0.02 {
		t.Errorf("%d of %d malformed (%.3f), want ≈ 0.1", n, total, frac)
	}
	if len(kinds) != 4 {
		t.Errorf("kinds drawn %v, want all four", kinds)
	}
	if got := spoilt.MalformedCount(); got != n {
		t.Errorf("MalformedCount %d, want %d", got, n)
	}
}

func sameValues(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] && !(math.IsNaN(a[i]) && math.IsNaN(b[i])) {
			return false
		}
	}
	return true
}

// TestReplayPlan plays the committed EPA sample at one day per second, with
// per-metric topics and a run shorter than the recording: a site without SO2
// sends no SO2 messages, days past the end are counted and not sent.
func TestReplayPlan(t *testing.T) {
	sc := parse(t, `
name: r
duration: 10s
fleets:
  - name: epa
    devices: 3
    topic: epa/{device}/{metric}
    codec: json
    qos: 1
    replay: {file: ../../scenarios/data/epa-sample.csv, speedup: 86400}
    sensors: [{metric: Ozone}, {metric: SO2}]
`)
	p := mustBuild(t, sc)
	st := p.Replays[0]
	// Days 0..9 fall in the 10 s run, days 10..13 do not.
	if st.Sites != 3 || st.Rows != 42 || st.RowsReplayed != 30 || st.RowsBeyondRun != 12 || st.EmptyCells != 10 {
		t.Errorf("stats %+v: want 3 sites, 42 rows, 30 replayed, 12 beyond the run, 10 empty cells", st)
	}
	sand := p.Devices[0] // Sand Mountain: ozone only
	if len(sand.Messages) != 10 {
		t.Fatalf("Sand Mountain sends %d messages, want 10 (ozone on days 0..9)", len(sand.Messages))
	}
	for i, m := range sand.Messages {
		if m.Topic != "epa/epa-00000/Ozone" || m.At != time.Duration(i)*time.Second || m.Seq != uint64(i+1) {
			t.Fatalf("message %d: %+v", i, m)
		}
	}
	if got := len(p.Devices[1].Messages); got != 20 || st.Messages != 50 {
		t.Errorf("North Birmingham sends %d messages (want 20: ozone and SO2 for 10 days), fleet %d (want 50)", got, st.Messages)
	}
	if first := p.Devices[1].Messages[0]; first.Values[0] != 0.021824 || first.Values[1] != 0.028571 {
		t.Errorf("North Birmingham 2021-01-01 = %v, CSV says [0.021824 0.028571]", first.Values)
	}
}

func mustBuild(t *testing.T, sc *scenarios.Scenario) *Plan {
	t.Helper()
	p, err := Build(sc)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
