package synth_test

import (
	"reflect"
	"testing"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/citybench/citybench/reports/result"
	"github.com/citybench/citybench/reports/synth"
	"github.com/citybench/citybench/scenarios"
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

// TestSLOsHaveTheShapeOfRealOnes: every verdict must be one a real run could
// write — an expression the scenario parser accepts, and its threshold and unit
// as the parser gives them (synthetic results once carried "ms" and "%" units and
// "store.loss < 0.1%", which the parser refuses).
func TestSLOsHaveTheShapeOfRealOnes(t *testing.T) {
	r, err := synth.Result(synth.WithSeed(9), synth.WithDuration(10, 2), synth.WithRate(100), synth.WithoutFault())
	if err != nil {
		t.Fatal(err)
	}
	if len(r.SLOs) == 0 {
		t.Fatal("no SLO verdicts")
	}
	for _, v := range r.SLOs {
		s, err := scenarios.ParseSLO(v.Expr)
		if err != nil {
			t.Errorf("%q: %v", v.Expr, err)
			continue
		}
		if v.Unit != s.Unit() || v.Threshold != s.Threshold {
			t.Errorf("%q: threshold %v %s, the parser says %v %s", v.Expr, v.Threshold, v.Unit, s.Threshold, s.Unit())
		}
		if !v.Pass || v.Note != "" {
			t.Errorf("%q on a healthy synthetic run: pass %v, note %q (observed %v)", v.Expr, v.Pass, v.Note, v.Observed)
		}
	}
}
