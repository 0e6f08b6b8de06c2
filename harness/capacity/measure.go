package capacity

import (
	"strings"

	"github.com/citybench/citybench/reports/result"
)

// Measure turns one step's result into the verdict inputs: per-stage delivery,
// latency and backlog slope over the hold, SLO verdicts, generator saturation and
// per-component resource use. cpuLimit gives a component's CPU allowance in
// percent (100 = one core).
func Measure(r *result.Result, cpuLimit func(component string) float64) result.StepEntry {
	from, until := measuredSeconds(r)
	hold := float64(until - from)
	e := result.StepEntry{
		Devices:            r.Meta.Devices,
		SLOs:               r.SLOs,
		GeneratorSaturated: r.HasFlag(result.FlagGeneratorSaturated),
		Counters:           r.Counters,
	}
	var offered int64
	for i := from; i < until && i < len(r.Intervals); i++ {
		offered += r.Intervals[i].Offered
	}
	if hold > 0 {
		e.OfferedRate = float64(offered) / hold
	}
	sent := r.Stage(result.StageSent)
	for _, st := range r.Stages {
		ss := result.StepStage{Stage: st.Stage, P50Us: st.Latency.P50Us, P99Us: st.Latency.P99Us}
		if st.Delivery.Expected > 0 {
			ss.DeliveredPct = 100 * float64(st.Delivery.Delivered) / float64(st.Delivery.Expected)
		}
		var got int64
		for i := from; i < until && i < len(r.Intervals); i++ {
			got += r.Intervals[i].Stages[st.Stage].Delivered
		}
		if hold > 0 {
			ss.DeliveredRate = float64(got) / hold
		}
		if st.Stage != result.StageSent && !st.Sampled {
			// Not every message is meant for every stage: QoS 0 is never acked.
			share := 1.0
			if sent != nil && sent.Delivery.Expected > 0 && st.Delivery.Expected > 0 {
				share = min(1, float64(st.Delivery.Expected)/float64(sent.Delivery.Expected))
			}
			ss.BacklogSlope = BacklogSlope(r.Intervals, st.Stage, share, from, until)
		}
		e.Stages = append(e.Stages, ss)
	}
	if last := finalStage(r); last != "" {
		for _, ss := range e.Stages {
			if ss.Stage == last {
				e.DeliveredRate = ss.DeliveredRate
			}
		}
	}
	e.Resources = componentUse(r.Resources, float64(from), float64(until), cpuLimit)
	return e
}

// measuredSeconds is the range of whole 1-second intervals after the warm-up and
// before the end of the last phase.
func measuredSeconds(r *result.Result) (from, until int) {
	for _, p := range r.Phases {
		if p.Name == "warm-up" {
			from = int(p.EndS + 0.999)
		}
		until = max(until, int(p.EndS))
	}
	if until == 0 {
		until = len(r.Intervals)
	}
	if r.HasFlag(result.FlagPartial) {
		until = min(until, int(r.Meta.MeasuredFromS+r.Meta.DurationS))
	}
	return from, min(until, len(r.Intervals))
}

// BacklogSlope is the least-squares slope (msgs/s) of the backlog sent −
// delivered-at-stage, counted from the run's start, over intervals [from, until).
// share is the part of what was sent meant for the stage (the acked stage sees
// only QoS 1 and 2; the fleets' messages interleave, so each second's share is
// the run's). A stage that keeps up holds a constant backlog (rate × latency):
// slope ≈ 0.
func BacklogSlope(iv []result.Interval, stage string, share float64, from, until int) float64 {
	var backlog float64
	var n, sx, sy, sxx, sxy float64
	for i := 0; i < until && i < len(iv); i++ {
		backlog += share*float64(iv[i].Stages[result.StageSent].Delivered) - float64(iv[i].Stages[stage].Delivered)
		if i < from {
			continue
		}
		x, y := float64(i), backlog
		n++
		sx += x
		sy += y
		sxx += x * x
		sxy += x * y
	}
	if n < 2 {
		return 0
	}
	den := n*sxx - sx*sx
	if den == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / den
}

// finalStage is the last unsampled stage the run measured.
func finalStage(r *result.Result) string {
	last := ""
	for _, name := range result.Stages {
		if st := r.Stage(name); st != nil && !st.Sampled && st.Delivery.Expected > 0 {
			last = name
		}
	}
	return last
}

func componentUse(samples []result.ResourceSample, from, until float64, cpuLimit func(string) float64) []result.ComponentUse {
	idx := map[string]int{}
	var out []result.ComponentUse
	counts := map[string]int{}
	for _, s := range samples {
		if s.AtS < from || s.AtS > until {
			continue
		}
		i, ok := idx[s.Component]
		if !ok {
			i = len(out)
			idx[s.Component] = i
			out = append(out, result.ComponentUse{Component: s.Component})
			if cpuLimit != nil {
				out[i].CPULimit = cpuLimit(s.Component)
			}
		}
		u := &out[i]
		u.CPUMean += s.CPUPercent
		u.ThrottledPct += s.CPUThrottledPct
		u.CPUMax = max(u.CPUMax, s.CPUPercent)
		u.MemoryPeak = max(u.MemoryPeak, s.MemoryBytes)
		counts[s.Component]++
	}
	for i := range out {
		out[i].CPUMean /= float64(counts[out[i].Component])
		out[i].ThrottledPct /= float64(counts[out[i].Component])
	}
	return out
}

// isHarness reports whether a resource line is the harness's own process.
func isHarness(component string) bool { return strings.HasPrefix(component, "harness") }
