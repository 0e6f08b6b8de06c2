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
	// host, when set, says how busy a two-core host was during a step: all
	// processes, the part the harness and the target did not account for, and
	// the harness alone (percent, 100 = one core).
	host     func(step int, rate float64) (all, other, harness float64)
	steps    []capacity.Step
	cancelAt int
	cancel   context.CancelFunc
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
	e := result.StepEntry{
		OfferedRate: st.Rate, DeliveredRate: min(st.Rate, k),
		Stages: []result.StepStage{
			{Stage: result.StageSent, DeliveredPct: 100},
			{Stage: result.StageKafka, DeliveredPct: 100, P99Us: 5000},
			{Stage: result.StageStore, DeliveredPct: 100, BacklogSlope: slope, P99Us: 20000 + int64(slope*1000)},
		},
		GeneratorSaturated: s.saturateAt > 0 && st.Rate >= s.saturateAt,
	}
	if s.host != nil {
		all, other, h := s.host(st.Index, st.Rate)
		e.HostCores, e.HostCPU, e.OtherCPU = 2, all, other
		e.Resources = []result.ComponentUse{{Component: "harness", CPUMean: h, CPULimit: 200}, {Component: "cassandra-1", CPUMean: all - other - h, CPULimit: 200}}
	}
	return e, nil
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
		{"cassandra throttled by its limit, its mean below it", throttledAt(containers(20), 60), nil, "cassandra-1", "throttled by its CPU limit in 60 % of its CPU periods"},
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

// quietHost is a two-core host where only the harness (10 %) and the pipeline
// (120 %) run.
func quietHost(int, float64) (float64, float64, float64) { return 130, 0, 10 }

// TestSearchRepeatsStepsOnABusyHost: steps that fail while other processes
// hold the host's CPUs are inconclusive and run again; a system that is stable
// when the host is quiet gets a confirmed, monotonic answer.
func TestSearchRepeatsStepsOnABusyHost(t *testing.T) {
	busy := map[int]bool{4: true, 9: true, 10: true}
	s := &sim{knee: func(step int, _ float64) float64 {
		if busy[step] {
			return 300 // starved by other work: everything above it fails
		}
		return 1000
	}, host: func(step int, _ float64) (float64, float64, float64) {
		if busy[step] {
			return 198, 90, 10
		}
		return 130, 0, 10
	}}
	q := &quietSim{sim: s}
	out, err := capacity.Search(t.Context(), q, config(100))
	if err != nil {
		t.Fatal(err)
	}
	if out.Stopped != capacity.StopConverged || !out.Confirmed || out.NonMonotonic || out.Max < 950 || out.Max > 1020 {
		t.Fatalf("%+v, want a confirmed, monotonic answer near 1000 despite the busy steps", out)
	}
	if q.waits != len(busy) {
		t.Errorf("waited for a quiet host %d times, want before each of the %d repeats", q.waits, len(busy))
	}
	repeated := 0
	for _, e := range out.Steps {
		if e.Repeated {
			repeated++
			if e.Pass || !busy[e.Index] {
				t.Errorf("step %d repeated (pass %v): only the busy, failing steps should be", e.Index, e.Pass)
			}
		}
	}
	if repeated != len(busy) || !strings.Contains(strings.Join(out.Notes, "\n"), "other processes took 90 %") {
		t.Errorf("%d steps repeated, notes %q: want the %d busy ones, said", repeated, out.Notes, len(busy))
	}
}

// TestSearchKeepsABusyHostsFailureAfterRepeats: a host that stays busy does
// not make the search run forever; the failure counts and is said to be the
// busy host's, possibly.
func TestSearchKeepsABusyHostsFailureAfterRepeats(t *testing.T) {
	s := &sim{knee: fixedKnee(1000), host: func(_ int, rate float64) (float64, float64, float64) {
		if rate > 1000 {
			return 198, 90, 10
		}
		return 130, 0, 10
	}}
	out, err := capacity.Search(t.Context(), s, config(100))
	if err != nil {
		t.Fatal(err)
	}
	if out.Stopped != capacity.StopConverged || out.Max < 950 || out.Max > 1020 {
		t.Fatalf("%+v, want convergence near 1000", out)
	}
	type step struct {
		kind string
		rate float64
	}
	per := map[step]int{}
	for _, e := range out.Steps {
		k := step{e.Kind, e.Rate}
		if per[k]++; per[k] > 3 {
			t.Fatalf("%s at %.0f msgs/s ran %d times: at most 2 repeats", e.Kind, e.Rate, per[k])
		}
	}
	if !strings.Contains(strings.Join(out.Notes, "\n"), "may be the busy host's") {
		t.Errorf("notes %q do not say the kept failures were taken on a busy host", out.Notes)
	}
}

// TestSearchReportsNonMonotonicOnAQuietHost: with the host's CPU measured and
// quiet, a system that degrades is still called non-monotonic — the repeats
// are for busy hosts only.
func TestSearchReportsNonMonotonicOnAQuietHost(t *testing.T) {
	s := &sim{knee: func(step int, _ float64) float64 {
		if step > 6 {
			return 500
		}
		return 1000
	}, host: quietHost}
	out, err := capacity.Search(t.Context(), s, config(100))
	if err != nil {
		t.Fatal(err)
	}
	if !out.NonMonotonic {
		t.Fatalf("non-monotonic system on a quiet host not flagged: %+v", out)
	}
	for _, e := range out.Steps {
		if e.Repeated {
			t.Errorf("step %d repeated on a quiet host", e.Index)
		}
	}
}

// TestSearchCountsAGeneratorStarvedByTheHost: on one machine the pipeline's
// containers can fill the CPUs the generator needs. Its lag then is that
// host's failure, not a reason to stop: the search goes on and names the
// host's CPU. A generator that is itself most of a full host still stops it.
func TestSearchCountsAGeneratorStarvedByTheHost(t *testing.T) {
	for _, tc := range []struct {
		name    string
		harness float64
		stopped string
	}{
		{"pipeline fills the host", 20, capacity.StopConverged},
		{"generator fills the host", 150, capacity.StopGenerator},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &sim{knee: fixedKnee(5000), saturateAt: 1500, host: func(_ int, rate float64) (float64, float64, float64) {
				if rate >= 1500 {
					return 196, 10, tc.harness
				}
				return 120, 0, 10
			}}
			out, err := capacity.Search(t.Context(), s, config(200))
			if err != nil {
				t.Fatal(err)
			}
			if out.Stopped != tc.stopped {
				t.Fatalf("stopped %q, want %q: %+v", out.Stopped, tc.stopped, out)
			}
			if tc.stopped != capacity.StopConverged {
				return
			}
			if !out.Confirmed || out.Max < 1400 || out.Max >= 1500 {
				t.Errorf("max %.0f confirmed %v, want a confirmed answer just below 1500", out.Max, out.Confirmed)
			}
			b := capacity.Bottleneck(out, capacity.Criteria{})
			if !strings.HasPrefix(b.Component, "host CPU") || !strings.Contains(strings.Join(b.Evidence, "\n"), "196 % of 200 % busy") {
				t.Errorf("bottleneck %+v, want the host's CPU with its figures", b)
			}
		})
	}
}

// TestBottleneckBehindAHostStarvedStep: the lowest failing step above the
// answer failed only on a generator starved by a full host; a higher one saw
// the store fall behind with Cassandra at its container limit. The component
// named is Cassandra, and the evidence says the host set the bracket lower.
func TestBottleneckBehindAHostStarvedStep(t *testing.T) {
	use := func(cassandra float64) []result.ComponentUse {
		return []result.ComponentUse{{Component: "harness", CPUMean: 10, CPULimit: 200}, {Component: "cassandra-1", CPUMean: cassandra, CPULimit: 25}, {Component: "sink-1", CPUMean: 8, CPULimit: 200}}
	}
	stages := func(backlog float64) []result.StepStage {
		return []result.StepStage{{Stage: "kafka", DeliveredPct: 100, P99Us: 5000}, {Stage: "store", DeliveredPct: 100, BacklogSlope: backlog, P99Us: 40000}}
	}
	out := capacity.Outcome{Max: 351, Steps: []result.StepEntry{
		{Rate: 401, OfferedRate: 401, HoldS: 8, Stages: stages(75), Resources: use(24.5), HostCores: 2, HostCPU: 198, OtherCPU: 80, Repeated: true},
		{Rate: 351, OfferedRate: 351, HoldS: 8, Pass: true, Stages: stages(0), Resources: use(21), HostCores: 2, HostCPU: 150},
		{Rate: 376, OfferedRate: 376, HoldS: 8, GeneratorSaturated: true, Stages: stages(2), Resources: use(22), HostCores: 2, HostCPU: 197, OtherCPU: 20},
	}}
	b := capacity.Bottleneck(out, capacity.Criteria{})
	ev := strings.Join(b.Evidence, "\n")
	if b.Component != "cassandra-1" || b.Stage != "store" || !strings.Contains(ev, "CPU 24 % of its 25 % allowance") || !strings.Contains(ev, "set lower by the host's CPU") {
		t.Errorf("bottleneck %+v, want cassandra-1 at the store stage, its share of its limit, and the host's part said", b)
	}
}

// quietSim is a sim that can wait for a quiet host (it is quiet at once).
type quietSim struct {
	*sim
	waits int
}

func (q *quietSim) WaitQuiet(context.Context, float64, time.Duration) (float64, error) {
	q.waits++
	return 0, nil
}

// TestBottleneckOnAHostOthersTook: when the failure that set the answer was
// taken while other processes held the CPUs (after every repeat), the host's
// CPU is named as theirs, not the pipeline's.
func TestBottleneckOnAHostOthersTook(t *testing.T) {
	stages := []result.StepStage{{Stage: "store", DeliveredPct: 100, P99Us: 40000}}
	for _, tc := range []struct {
		other float64
		want  string
	}{
		{151, "host CPU (other processes on the host took it)"},
		{10, "host CPU (harness and pipeline share it)"},
	} {
		out := capacity.Outcome{Max: 1554, Steps: []result.StepEntry{
			{Rate: 1554, OfferedRate: 1550, Pass: true, Stages: stages, HostCores: 2, HostCPU: 80},
			{Rate: 1604, OfferedRate: 1601, HoldS: 10, GeneratorSaturated: true, Stages: stages, HostCores: 2, HostCPU: 196, OtherCPU: tc.other,
				Resources: []result.ComponentUse{{Component: "harness + embedded pipeline (one process)", CPUMean: 196 - tc.other, CPULimit: 200}}},
		}}
		if b := capacity.Bottleneck(out, capacity.Criteria{}); b.Component != tc.want {
			t.Errorf("others at %.0f %%: bottleneck %q, want %q", tc.other, b.Component, tc.want)
		}
	}
}

// throttledAt marks cassandra-1 as held back by its CPU limit in pct % of its periods.
func throttledAt(use []result.ComponentUse, pct float64) []result.ComponentUse {
	for i := range use {
		if use[i].Component == "cassandra-1" {
			use[i].ThrottledPct = pct
		}
	}
	return use
}

// TestBottleneckIsTheStageAddingTheBacklog: every stage's backlog includes
// what is queued upstream of it. With the broker a little behind and the store
// far behind, the store is where the pipeline gave out (figures from a capped
// Cassandra at 12,830 msgs/s on this box).
func TestBottleneckIsTheStageAddingTheBacklog(t *testing.T) {
	slopes := func(acked, broker, kafka, store float64) []result.StepStage {
		return []result.StepStage{{Stage: "sent", DeliveredPct: 100}, {Stage: "acked", DeliveredPct: 100, BacklogSlope: acked}, {Stage: "broker", DeliveredPct: 100, BacklogSlope: broker},
			{Stage: "kafka", DeliveredPct: 100, BacklogSlope: kafka}, {Stage: "store", DeliveredPct: 100, BacklogSlope: store}}
	}
	use := []result.ComponentUse{{Component: "mqtt", CPUMean: 20, CPULimit: 200}, {Component: "cassandra-1", CPUMean: 24, CPULimit: 25, ThrottledPct: 92}, {Component: "sink-1", CPUMean: 10, CPULimit: 200}}
	out := capacity.Outcome{Max: 6415, Steps: []result.StepEntry{
		{Rate: 6415, OfferedRate: 6403, Pass: true, Stages: slopes(0, 0, 0, 18)},
		{Rate: 12830, OfferedRate: 12804, HoldS: 8, Stages: slopes(828, 859, 959, 2841), Resources: use},
	}}
	b := capacity.Bottleneck(out, capacity.Criteria{})
	if b.Component != "cassandra-1" || b.Stage != "store" {
		t.Errorf("bottleneck %s at %q, want cassandra-1 at the store stage: %q", b.Component, b.Stage, b.Evidence)
	}
}

// TestBottleneckOnAFullHost: the store fell behind, no component was near its
// own allowance, but together they filled the host (district on this box):
// the host's cores are named, not a limit inside the sink.
func TestBottleneckOnAFullHost(t *testing.T) {
	stages := func(store float64) []result.StepStage {
		return []result.StepStage{{Stage: "sent", DeliveredPct: 100}, {Stage: "kafka", DeliveredPct: 100}, {Stage: "store", DeliveredPct: 100, BacklogSlope: store, P99Us: 5e6}}
	}
	use := []result.ComponentUse{{Component: "cassandra-1", CPUMean: 57, CPULimit: 200}, {Component: "sink-1", CPUMean: 7, CPULimit: 200}, {Component: "kafka-1", CPUMean: 40, CPULimit: 200}}
	for _, tc := range []struct {
		host float64
		want string
	}{{199, "host CPU (harness and pipeline share it)"}, {120, "sink"}} {
		out := capacity.Outcome{Max: 3296, Steps: []result.StepEntry{
			{Rate: 3296, OfferedRate: 3217, Pass: true, Stages: stages(-4)},
			{Rate: 5022, OfferedRate: 4985, HoldS: 10, Stages: stages(2817), Resources: use, HostCores: 2, HostCPU: tc.host, OtherCPU: 19},
		}}
		if b := capacity.Bottleneck(out, capacity.Criteria{}); b.Component != tc.want || b.Stage != "store" {
			t.Errorf("host at %.0f %%: bottleneck %s at %q, want %s at the store stage", tc.host, b.Component, b.Stage, tc.want)
		}
	}
}
