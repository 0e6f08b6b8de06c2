package ledger

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/citybench/citybench/harness/schedule"
	"github.com/citybench/citybench/reports/result"
	"github.com/citybench/citybench/scenarios"
)

func messagesOf(d *schedule.Device) []schedule.Message { return d.Messages() }

// golden is what a synthetic run's ledger says: the figures the slot-per-message
// ledger wrote to testdata/eager-golden.json before it was replaced.
type golden struct {
	Summary   *Summary
	TapLate   [NumStages]int64
	Delivered [NumStages]int64
	Unknown   [NumStages]int64
	Errors    int64
	Traces    []SampleTrace
}

func runGolden(t *testing.T, warmup, duration, meter, air, extra string) golden {
	t.Helper()
	sc, err := scenarios.Parse("stream.yaml", []byte(fmt.Sprintf(streamScenario, warmup, duration, meter, air, extra)))
	if err != nil {
		t.Fatal(err)
	}
	p := streamPlan(sc)
	l := New(p, WithDeadline(100*time.Millisecond), WithTraces(30))
	start := int64(1_000_000_000_000_000)
	l.SetStart(time.Unix(0, start))
	replay(p, l, start, p.End)
	g := golden{TapLate: l.Settle(), Errors: l.Errors()}
	g.Summary, err = l.Summarise(Window{Until: p.End, Expect: streamExpect(p), Unverified: streamUnverified, SeriesUntil: p.End + 40*time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for s := range NumStages {
		g.Delivered[s], g.Unknown[s] = l.Delivered(s), l.Unknown(s)
	}
	g.Traces = l.Traces()
	return g
}

// TestFiguresEqualTheSlotLedger replays synthetic runs — losses, duplicates,
// reordering, lagging taps, stragglers, a store read back after the load —
// into the bounded ledger and wants the figures the slot-per-message ledger
// gave for the same runs. While every message stays in its device's in-flight
// window, every figure is equal. When messages leave it before the store
// read-back ("long"), only the figures compareLong names may differ; delivery
// accounting, the other histograms and the series stay equal.
func TestFiguresEqualTheSlotLedger(t *testing.T) {
	raw, err := os.ReadFile("testdata/eager-golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]golden
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	for _, c := range goldenCases {
		t.Run(c.name, func(t *testing.T) {
			w, ok := want[c.name]
			if !ok {
				t.Fatalf("no golden figures for %q", c.name)
			}
			got := runGolden(t, c.warmup, c.duration, c.meter, c.air, c.extra)
			// Through JSON, as the golden went, so both sides have the same types.
			var g golden
			b, _ := json.Marshal(got)
			if err := json.Unmarshal(b, &g); err != nil {
				t.Fatal(err)
			}
			if c.name == "long" {
				compareLong(t, g, w)
				return
			}
			if !reflect.DeepEqual(g, w) {
				diff(t, g, w)
			}
		})
	}
}

// compareLong checks what must stay equal when messages left the window
// before the store read-back. Kafka sightings the store's write later beat keep
// their own time (the rule can no longer move it), and so do the broker times
// supplied from them: those two stages' latencies (and the seconds they fall in)
// and on-time counts may differ,
// and service time where the send time had left the window (store, and the
// stages the rule supplied from a late store sighting).
func compareLong(t *testing.T, got, want golden) {
	t.Helper()
	if got.Delivered != want.Delivered || got.Unknown != want.Unknown || got.Errors != want.Errors {
		t.Errorf("delivered/unknown/errors = %v/%v/%d, want %v/%v/%d", got.Delivered, got.Unknown, got.Errors, want.Delivered, want.Unknown, want.Errors)
	}
	if !reflect.DeepEqual(got.Summary.GeneratorLag, want.Summary.GeneratorLag) || got.Summary.GeneratorLagHDR != want.Summary.GeneratorLagHDR {
		t.Errorf("generator lag differs")
	}
	if len(got.Summary.Stages) != len(want.Summary.Stages) {
		t.Fatalf("%d stages, want %d", len(got.Summary.Stages), len(want.Summary.Stages))
	}
	timesMayMove := func(stage string) bool { return stage == result.StageKafka || stage == result.StageBroker }
	for i, g := range got.Summary.Stages {
		w := want.Summary.Stages[i]
		gd, wd := g.Delivery, w.Delivery
		if timesMayMove(g.Stage) {
			gd.WithinDeadline, gd.Availability = wd.WithinDeadline, wd.Availability
		}
		if gd != wd {
			t.Errorf("%s delivery = %+v, want %+v", g.Stage, g.Delivery, w.Delivery)
		}
		if !timesMayMove(g.Stage) && (g.Latency != w.Latency || g.LatencyHDR != w.LatencyHDR) {
			t.Errorf("%s latency = %+v, want %+v", g.Stage, g.Latency, w.Latency)
		}
		if !timesMayMove(g.Stage) && g.Stage != result.StageStore && g.ServiceTime != w.ServiceTime {
			t.Errorf("%s service time = %+v, want %+v", g.Stage, g.ServiceTime, w.ServiceTime)
		}
	}
	for i, g := range got.Summary.Intervals {
		w := want.Summary.Intervals[i]
		if g.Offered != w.Offered || g.Errors != w.Errors || g.GenLagHDR != w.GenLagHDR {
			t.Errorf("interval %d: offered/errors/lag differ", i)
		}
		for s, gs := range g.Stages {
			ws := w.Stages[s]
			if timesMayMove(s) {
				gs.Delivered, gs.P50Us, gs.P99Us, gs.MaxUs, gs.LatencyHDR, gs.OnTime = ws.Delivered, ws.P50Us, ws.P99Us, ws.MaxUs, ws.LatencyHDR, ws.OnTime
			}
			if gs != ws {
				t.Errorf("interval %d %s = %+v, want %+v", i, s, gs, ws)
			}
		}
	}
}

func diff(t *testing.T, got, want golden) {
	t.Helper()
	if got.TapLate != want.TapLate || got.Delivered != want.Delivered || got.Unknown != want.Unknown || got.Errors != want.Errors {
		t.Errorf("counts: tapLate %v delivered %v unknown %v errors %d, want %v %v %v %d", got.TapLate, got.Delivered, got.Unknown, got.Errors, want.TapLate, want.Delivered, want.Unknown, want.Errors)
	}
	if !reflect.DeepEqual(got.Traces, want.Traces) {
		t.Errorf("traces differ: %d vs %d", len(got.Traces), len(want.Traces))
	}
	for i := range min(len(got.Summary.Stages), len(want.Summary.Stages)) {
		if g, w := got.Summary.Stages[i], want.Summary.Stages[i]; !reflect.DeepEqual(g, w) {
			t.Errorf("stage %s:\n got %+v\nwant %+v", g.Stage, g, w)
		}
	}
	if len(got.Summary.Stages) != len(want.Summary.Stages) {
		t.Errorf("%d stages, want %d", len(got.Summary.Stages), len(want.Summary.Stages))
	}
	if !reflect.DeepEqual(got.Summary.Intervals, want.Summary.Intervals) {
		for i := range got.Summary.Intervals {
			if !reflect.DeepEqual(got.Summary.Intervals[i], want.Summary.Intervals[i]) {
				t.Errorf("interval %d:\n got %+v\nwant %+v", i, got.Summary.Intervals[i], want.Summary.Intervals[i])
				break
			}
		}
	}
	if got.Summary.GeneratorLagHDR != want.Summary.GeneratorLagHDR {
		t.Errorf("generator lag differs")
	}
}
