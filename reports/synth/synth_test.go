package synth_test

import (
	"reflect"
	"testing"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/citybench/citybench/reports/result"
	"github.com/citybench/citybench/reports/synth"
)

func TestSummaryMatchesItsHistograms(t *testing.T) {
	r, err := synth.Result(synth.WithSeed(9), synth.WithDuration(10, 2), synth.WithRate(100))
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range r.Stages {
		h, err := hdrhistogram.Decode([]byte(st.LatencyHDR))
		if err != nil {
			t.Fatalf("%s: %v", st.Stage, err)
		}
		if got := synth.Quantiles(h); got != st.Latency {
			t.Errorf("%s: summary %+v, histogram says %+v", st.Stage, st.Latency, got)
		}
		if st.Delivery.Delivered != st.Latency.Count {
			t.Errorf("%s: delivered %d but %d latencies", st.Stage, st.Delivery.Delivered, st.Latency.Count)
		}
	}
	if len(r.Intervals) != 10 || r.Meta.DurationS != 8 {
		t.Errorf("%d intervals, window %v s; want 10 and 8", len(r.Intervals), r.Meta.DurationS)
	}
}

func TestSeedsRepeatAndDiffer(t *testing.T) {
	gen := func(seed uint64) *result.Result {
		r, err := synth.Result(synth.WithSeed(seed), synth.WithDuration(5, 1), synth.WithRate(50))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if !reflect.DeepEqual(gen(4), gen(4)) {
		t.Error("one seed must give one result")
	}
	if reflect.DeepEqual(gen(4).Stages, gen(5).Stages) {
		t.Error("different seeds must give different runs")
	}
}

func TestTailRegressionMovesTheTailOnly(t *testing.T) {
	base, err := synth.Result(synth.WithSeed(3), synth.WithoutFault())
	if err != nil {
		t.Fatal(err)
	}
	slow, err := synth.Result(synth.WithSeed(3), synth.WithoutFault(), synth.WithTailRegression(0.95, 1.3))
	if err != nil {
		t.Fatal(err)
	}
	b, s := base.Stage("store").Latency, slow.Stage("store").Latency
	if b.P50Us != s.P50Us {
		t.Errorf("median moved: %d → %d", b.P50Us, s.P50Us)
	}
	if ratio := float64(s.P99Us) / float64(b.P99Us); ratio < 1.25 || ratio > 1.35 {
		t.Errorf("p99 ratio %.2f, want about 1.3", ratio)
	}
}
