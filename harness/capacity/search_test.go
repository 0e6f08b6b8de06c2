package capacity_test

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/citybench/citybench/harness/capacity"
	"github.com/citybench/citybench/reports/result"
)

// sim is a simulated pipeline: its store stage keeps up below knee(step, rate)
// and falls behind by the excess above it; the generator saturates at saturateAt.
type sim struct {
	knee       func(step int, rate float64) float64
	saturateAt float64
	steps      []capacity.Step
	cancelAt   int
	cancel     context.CancelFunc
}

func (s *sim) RunStep(ctx context.Context, st capacity.Step) (result.StepEntry, error) {
	s.steps = append(s.steps, st)
	if s.cancelAt > 0 && len(s.steps) == s.cancelAt {
		s.cancel()
		return result.StepEntry{}, ctx.Err()
	}
	k := s.knee(st.Index, st.Rate)
	slope := 0.0
	if st.Rate > k {
		slope = st.Rate - k
	}
	return result.StepEntry{
		OfferedRate: st.Rate, DeliveredRate: min(st.Rate, k),
		Stages: []result.StepStage{
			{Stage: result.StageSent, DeliveredPct: 100},
			{Stage: result.StageKafka, DeliveredPct: 100, P99Us: 5000},
			{Stage: result.StageStore, DeliveredPct: 100, BacklogSlope: slope, P99Us: 20000 + int64(slope*1000)},
		},
		GeneratorSaturated: s.saturateAt > 0 && st.Rate >= s.saturateAt,
	}, nil
}

func fixedKnee(k float64) func(int, float64) float64 { return func(int, float64) float64 { return k } }

func config(start float64) capacity.Config {
	return capacity.Config{StartRate: start, StepHold: 10 * time.Second, ConfirmHold: 30 * time.Second}
}

func TestSearchFindsKnee(t *testing.T) {
	for _, tc := range []struct {
		name  string
		knee  float64
		start float64
	}{
		{"knee above the start", 1000, 200},
		{"knee below the start", 300, 2000},
		{"knee just above a doubling", 1700, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &sim{knee: fixedKnee(tc.knee)}
			out, err := capacity.Search(t.Context(), s, config(tc.start))
			if err != nil {
				t.Fatal(err)
			}
			if out.Stopped != capacity.StopConverged || !out.Confirmed || out.NonMonotonic {
				t.Errorf("stopped %q confirmed %v non-monotonic %v, want converged, confirmed, monotonic", out.Stopped, out.Confirmed, out.NonMonotonic)
			}
			// The confirming hold lets a backlog grow by up to 2 % of the rate,
			// so the answer may sit up to 2 % above the knee.
			if out.Max > 1.02*tc.knee || out.Max < 0.95*tc.knee {
				t.Errorf("max %.0f, want within 5 %% of the knee %.0f", out.Max, tc.knee)
			}
			if out.Bracket.Pass != out.Max || out.Bracket.Fail <= tc.knee || out.Bracket.Fail-out.Bracket.Pass > 0.05*out.Bracket.Pass {
				t.Errorf("bracket %+v does not straddle the knee %.0f within 5 %%", out.Bracket, tc.knee)
			}
			last := s.steps[len(s.steps)-1]
			if last.Kind != capacity.KindConfirm || last.Hold != 30*time.Second || last.Rate != out.Max {
				t.Errorf("last step %+v, want the confirming hold at the answer", last)
			}
			if len(s.steps) > 15 {
				t.Errorf("%d steps: the search should converge in fewer", len(s.steps))
			}
		})
	}
}

func TestSearchToleratesNoise(t *testing.T) {
	for seed := range uint64(8) {
		rng := rand.New(rand.NewPCG(seed, 7))
		s := &sim{knee: func(int, float64) float64 { return 1000 * (1 + 0.06*(rng.Float64()-0.5)) }}
		out, err := capacity.Search(t.Context(), s, config(100))
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(out.Max-1000) > 100 {
			t.Errorf("seed %d: max %.0f, want within ±10 %% of 1000 despite ±3 %% noise (steps %+v)", seed, out.Max, s.steps)
		}
	}
}

func TestSearchReportsNonMonotonic(t *testing.T) {
	// The system degrades after its sixth step (compaction, a filling disk):
	// rates that passed earlier fail later. The search must say so.
	s := &sim{knee: func(step int, _ float64) float64 {
		if step > 6 {
			return 500
		}
		return 1000
	}}
	out, err := capacity.Search(t.Context(), s, config(100))
	if err != nil {
		t.Fatal(err)
	}
	if !out.NonMonotonic {
		t.Fatalf("non-monotonic system not flagged: %+v", out)
	}
	if !strings.Contains(strings.Join(out.Notes, "\n"), "non-monotonic") {
		t.Errorf("notes %q do not explain", out.Notes)
	}
	if out.Max > 500 && out.Confirmed {
		t.Errorf("confirmed max %.0f above what the degraded system sustains", out.Max)
	}
}

func TestSearchStopsAtSaturatedGenerator(t *testing.T) {
	s := &sim{knee: fixedKnee(5000), saturateAt: 700}
	out, err := capacity.Search(t.Context(), s, config(100))
	if err != nil {
		t.Fatal(err)
	}
	if out.Stopped != capacity.StopGenerator {
		t.Fatalf("stopped %q, want generator", out.Stopped)
	}
	if out.Max != 400 || out.Confirmed {
		t.Errorf("max %.0f confirmed %v, want the last pass (400) unconfirmed", out.Max, out.Confirmed)
	}
	if !strings.Contains(strings.Join(out.Notes, " "), "the generator, not the pipeline, is the limit") {
		t.Errorf("notes %q lack the generator verdict", out.Notes)
	}
	if b := capacity.Bottleneck(out, capacity.Criteria{}); !strings.HasPrefix(b.Component, "generator") {
		t.Errorf("bottleneck %+v, want the generator", b)
	}
	// 100, 200, 400 pass; 800 saturates the generator, is repeated once, and stops the search.
	if len(s.steps) != 5 || s.steps[3].Rate != 800 || s.steps[4].Rate != 800 {
		t.Errorf("steps %+v, want the saturated step repeated once, then the stop", s.steps)
	}
}

// TestSearchGoesOnWhenPipelineFailsToo: on one process the pipeline's
// saturation starves the generator as well; a step whose stages fell behind
// what was sent is the pipeline's failure, and the search bisects below it.
func TestSearchGoesOnWhenPipelineFailsToo(t *testing.T) {
	s := &sim{knee: fixedKnee(1000), saturateAt: 1500}
	out, err := capacity.Search(t.Context(), s, config(200))
	if err != nil {
		t.Fatal(err)
	}
	if out.Stopped != capacity.StopConverged || out.Max < 950 || out.Max > 1020 {
		t.Errorf("stopped %q at %.0f, want convergence at the pipeline's knee (1000)", out.Stopped, out.Max)
	}
}

// TestSearchRepeatsABriefGeneratorLag: a host busy for one step does not end the search.
func TestSearchRepeatsABriefGeneratorLag(t *testing.T) {
	s := &sim{knee: fixedKnee(1000)}
	r := &flakyGenerator{sim: s, at: 3}
	out, err := capacity.Search(t.Context(), r, config(100))
	if err != nil {
		t.Fatal(err)
	}
	if out.Stopped != capacity.StopConverged || out.NonMonotonic || out.Max < 950 || out.Max > 1020 {
		t.Errorf("%+v, want convergence at 1000 despite one lagging step", out)
	}
}

// flakyGenerator reports a saturated generator on one step only.
type flakyGenerator struct {
	*sim
	at int
}

func (f *flakyGenerator) RunStep(ctx context.Context, st capacity.Step) (result.StepEntry, error) {
	e, err := f.sim.RunStep(ctx, st)
	e.GeneratorSaturated = st.Index == f.at
	return e, err
}

func TestSearchBounds(t *testing.T) {
	t.Run("max rate passes", func(t *testing.T) {
		cfg := config(200)
		cfg.MaxRate = 1500
		out, err := capacity.Search(t.Context(), &sim{knee: fixedKnee(1e6)}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if out.Stopped != capacity.StopMaxRate || out.Max != 1500 || !out.Confirmed {
			t.Errorf("%+v, want max-rate at 1500, confirmed", out)
		}
	})
	t.Run("nothing passes", func(t *testing.T) {
		out, err := capacity.Search(t.Context(), &sim{knee: fixedKnee(1)}, config(200))
		if err != nil {
			t.Fatal(err)
		}
		if out.Stopped != capacity.StopNoPass || out.Max != 0 {
			t.Errorf("%+v, want no-pass", out)
		}
	})
	t.Run("interrupted", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		s := &sim{knee: fixedKnee(1000), cancelAt: 4, cancel: cancel}
		out, err := capacity.Search(ctx, s, config(100))
		if err == nil || out.Stopped != capacity.StopInterrupted {
			t.Fatalf("err %v stopped %q, want an interruption", err, out.Stopped)
		}
		if len(out.Steps) != 3 || out.Steps[2].Rate != 400 || out.Max != 400 || out.Confirmed {
			t.Errorf("%+v, want the three steps finished before Ctrl-C and their highest pass, unconfirmed", out)
		}
	})
}

func TestBottleneckNamesSaturatedComponent(t *testing.T) {
	containers := func(cassandra float64) []result.ComponentUse {
		return []result.ComponentUse{
			{Component: "sink-1", CPUMean: 12, CPULimit: 200},
			{Component: "cassandra-1", CPUMean: cassandra, CPULimit: 50},
			{Component: "kafka-1", CPUMean: 30, CPULimit: 200},
		}
	}
	embedded := func(cpu float64) []result.ComponentUse {
		return []result.ComponentUse{{Component: "harness + embedded pipeline (one process)", CPUMean: cpu, CPULimit: 200}}
	}
	steps := func(use []result.ComponentUse, counters map[string]int64) []result.StepEntry {
		return []result.StepEntry{
			{Rate: 1000, OfferedRate: 1000, Pass: true, Stages: []result.StepStage{{Stage: "kafka", P99Us: 5000}, {Stage: "store", P99Us: 40000}}, Resources: containers(20)},
			{Rate: 2000, OfferedRate: 2000, HoldS: 10, Stages: []result.StepStage{{Stage: "kafka", P99Us: 6000}, {Stage: "store", BacklogSlope: 420, P99Us: 3e6}}, Resources: use, Counters: counters},
		}
	}
	for _, tc := range []struct {
		name     string
		use      []result.ComponentUse
		counters map[string]int64
		want     string
		evidence string
	}{
		{"cassandra at its limit", containers(49), nil, "cassandra-1", "cassandra-1: CPU 49 % of its 50 % allowance"},
		{"a cap inside the sink", containers(15), map[string]int64{"sink_throttled_ms": 9000}, "sink", "sink_throttled_ms during the step at 2000 msgs/s: 9000"},
		{"a cap inside the embedded sink", embedded(40), map[string]int64{"sink_throttled_ms": 9000}, "sink", "sink_throttled_ms"},
		{"the embedded process out of CPU", embedded(190), nil, "host CPU (one process: harness and embedded pipeline)", "CPU 190 % of its 200 %"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := capacity.Bottleneck(capacity.Outcome{Max: 1000, Steps: steps(tc.use, tc.counters)}, capacity.Criteria{})
			if b.Component != tc.want || b.Stage != "store" {
				t.Errorf("bottleneck %+v, want %s at the store stage", b, tc.want)
			}
			ev := strings.Join(b.Evidence, "\n")
			if !strings.Contains(ev, "store backlog +420 msgs/s") || !strings.Contains(ev, tc.evidence) {
				t.Errorf("evidence %q lacks the backlog or %q", ev, tc.evidence)
			}
		})
	}
}

type failingRunner struct{ sim }

func (f *failingRunner) RunStep(ctx context.Context, st capacity.Step) (result.StepEntry, error) {
	if st.Index == 3 {
		return result.StepEntry{}, errors.New("connect devices: socket: too many open files")
	}
	return f.sim.RunStep(ctx, st)
}

func TestSearchStopsOnStepError(t *testing.T) {
	out, err := capacity.Search(t.Context(), &failingRunner{sim{knee: fixedKnee(1000)}}, config(100))
	if err == nil || !strings.Contains(err.Error(), "too many open files") {
		t.Fatalf("err %v, want the step's error", err)
	}
	if out.Stopped != capacity.StopError || len(out.Steps) != 2 || out.Max != 200 || out.Confirmed {
		t.Errorf("%+v, want an error stop keeping the two steps that ran and their highest pass, unconfirmed", out)
	}
}

// TestBottleneckAfterGeneratorStop: a search cut short by the generator still
// names the stage that fell behind in an earlier pipeline failure above the answer.
func TestBottleneckAfterGeneratorStop(t *testing.T) {
	stages := func(backlog float64) []result.StepStage {
		return []result.StepStage{{Stage: "kafka", DeliveredPct: 100, P99Us: 5000}, {Stage: "store", DeliveredPct: 100, BacklogSlope: backlog, P99Us: 40000}}
	}
	out := capacity.Outcome{Stopped: capacity.StopGenerator, Max: 950, Steps: []result.StepEntry{
		{Rate: 950, OfferedRate: 950, Pass: true, Stages: stages(0)},
		{Rate: 1600, OfferedRate: 1600, HoldS: 10, Stages: stages(620), Counters: map[string]int64{"sink_throttled_ms": 5000}},
		{Rate: 975, OfferedRate: 975, HoldS: 10, GeneratorSaturated: true, Stages: stages(0)},
	}}
	b := capacity.Bottleneck(out, capacity.Criteria{})
	if b.Component != "sink" || b.Stage != "store" || !strings.Contains(strings.Join(b.Evidence, "\n"), "stopped early, on the generator") {
		t.Errorf("bottleneck %+v, want the sink at the store stage, with the early stop said", b)
	}
}
