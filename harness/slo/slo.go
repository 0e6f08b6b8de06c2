// Package slo judges a finished run against the scenario's SLOs: it turns each
// parsed threshold and a result into a verdict, failing (with a note) whatever
// the result cannot show rather than passing it by default.
package slo

import (
	"fmt"

	"github.com/citybench/citybench/reports/result"
	"github.com/citybench/citybench/scenarios"
)

// Evaluate returns one verdict per SLO, in order. Latency figures are in µs as
// the result stores them; throughput is delivered messages per second of the
// measured window (Meta.DurationS, after warm-up).
func Evaluate(slos []scenarios.SLO, r *result.Result) []result.SLOVerdict {
	out := make([]result.SLOVerdict, 0, len(slos))
	for _, s := range slos {
		v := result.SLOVerdict{Expr: s.Expr, Threshold: s.Threshold, Unit: s.Unit()}
		obs, note, ok := observe(s, r)
		v.Note = note
		if ok {
			v.Observed = obs
			v.Pass = s.Holds(obs)
		}
		if r != nil && r.HasFlag(result.FlagPartial) {
			v.Note = join(v.Note, "partial run: figures cover only what ran")
		}
		out = append(out, v)
	}
	return out
}

// Passed reports whether every verdict passed; no SLOs is a pass.
func Passed(vs []result.SLOVerdict) bool {
	for _, v := range vs {
		if !v.Pass {
			return false
		}
	}
	return true
}

// Failed returns the verdicts that did not pass.
func Failed(vs []result.SLOVerdict) []result.SLOVerdict {
	var out []result.SLOVerdict
	for _, v := range vs {
		if !v.Pass {
			out = append(out, v)
		}
	}
	return out
}

// Observe is the figure s names in r, in the unit s.Unit() gives; ok is false
// (and note says why) when r cannot show it.
func Observe(s scenarios.SLO, r *result.Result) (obs float64, note string, ok bool) {
	return observe(s, r)
}

// observe finds the figure s judges. ok is false when the result cannot show it;
// note then says why.
func observe(s scenarios.SLO, r *result.Result) (obs float64, note string, ok bool) {
	if r == nil {
		return 0, "no result to judge", false
	}
	if s.Metric == scenarios.MetricGeneratorLag {
		if r.GeneratorLag.Count == 0 {
			return 0, "no generator lag was recorded", false
		}
		return stat(r.GeneratorLag, s.Stat)
	}
	if s.Metric == scenarios.MetricRecoveryTime || s.Metric == scenarios.MetricUnavailable {
		return worstFault(r, s)
	}
	if s.Stage == scenarios.SubjectMalformed {
		return malformedFigure(r, s)
	}
	st := r.Stage(s.Stage)
	if st == nil {
		return 0, fmt.Sprintf("stage %s was not measured in this run", s.Stage), false
	}
	if st.Sampled {
		note = fmt.Sprintf("stage %s is sampled: figures cover the sampled devices only", s.Stage)
	}
	d := st.Delivery
	if d.Unverified > 0 && deliveryMetric(s.Metric) {
		// Not a failure by itself (the tap's trouble is not the pipeline's), but a
		// verdict on loss must say what it could not see.
		note = join(note, fmt.Sprintf("%d %s messages unverified: its tap could not check them", d.Unverified, s.Stage))
	}
	switch s.Metric {
	case scenarios.MetricLatency, scenarios.MetricServiceTime:
		q := st.Latency
		if s.Metric == scenarios.MetricServiceTime {
			q = st.ServiceTime
		}
		if q.Count == 0 {
			return 0, join(note, fmt.Sprintf("stage %s recorded no %s samples", s.Stage, s.Metric)), false
		}
		if s.Metric == scenarios.MetricLatency && r.HasFlag(result.FlagGeneratorSaturated) {
			note = join(note, "generator saturated: latency includes the harness's own lag")
		}
		v, why, ok := stat(q, s.Stat)
		return v, join(note, why), ok
	case scenarios.MetricLoss:
		return float64(d.Lost), note, true
	case scenarios.MetricDuplicates:
		return float64(d.Duplicated), note, true
	case scenarios.MetricReordered:
		return float64(d.Reordered), note, true
	case scenarios.MetricDelivered:
		return float64(d.Delivered), note, true
	case scenarios.MetricLossRatio, scenarios.MetricAvailability:
		if d.Expected == 0 {
			return 0, join(note, fmt.Sprintf("stage %s expected no messages, so a ratio is undefined", s.Stage)), false
		}
		if s.Metric == scenarios.MetricLossRatio {
			return float64(d.Lost) / float64(d.Expected), note, true
		}
		return d.Availability, note, true
	case scenarios.MetricThroughput:
		if !(r.Meta.DurationS > 0) {
			return 0, join(note, "the result has no measured duration"), false
		}
		return float64(d.Delivered) / r.Meta.DurationS, note, true
	case scenarios.MetricRate:
		if !(st.RatePerS > 0) {
			return 0, join(note, fmt.Sprintf("stage %s has no rate: it is measured for closed-loop (burst) runs only", s.Stage)), false
		}
		return st.RatePerS, note, true
	case scenarios.MetricBytes:
		if !(st.BytesPerMessage > 0) {
			return 0, join(note, fmt.Sprintf("stage %s has no byte count: sizes are measured at sent (payloads) and store (stored column values)", s.Stage)), false
		}
		return st.BytesPerMessage, note, true
	}
	return 0, fmt.Sprintf("metric %q is not known to this evaluator", s.Metric), false
}

// deliveryMetric: metrics that count messages, which unverified ones qualify.
func deliveryMetric(m string) bool {
	switch m {
	case scenarios.MetricLoss, scenarios.MetricLossRatio, scenarios.MetricDelivered, scenarios.MetricAvailability:
		return true
	}
	return false
}

// worstFault is the largest recovery time or unavailability (µs) of s.Stage over
// the run's faults; a fault the stage never recovered from is noted.
func worstFault(r *result.Result, s scenarios.SLO) (float64, string, bool) {
	var worst float64
	var note string
	seen := false
	for _, f := range r.Faults {
		for _, im := range f.Stages {
			if im.Stage != s.Stage {
				continue
			}
			seen = true
			v := im.RecoveryS
			if s.Metric == scenarios.MetricUnavailable {
				v = im.UnavailableS
			}
			worst = max(worst, v*1e6)
			if !im.Recovered && note == "" {
				note = fmt.Sprintf("%s did not recover from %s %s before the series ended (%s so far ≥ %.0fs)", s.Stage, f.Kind, f.Target, s.Metric, v)
			}
		}
	}
	if !seen {
		return 0, fmt.Sprintf("no fault figures for stage %s: the run performed no fault", s.Stage), false
	}
	// A stage that never recovered has no recovery time to judge: the figure is a
	// lower bound, and an SLO must not pass on it.
	return worst, note, note == ""
}

func stat(q result.Quantiles, name string) (float64, string, bool) {
	switch name {
	case "min":
		return float64(q.MinUs), "", true
	case "mean":
		return q.MeanUs, "", true
	case "p50":
		return float64(q.P50Us), "", true
	case "p90":
		return float64(q.P90Us), "", true
	case "p99":
		return float64(q.P99Us), "", true
	case "p99.9":
		return float64(q.P999Us), "", true
	case "p99.99":
		return float64(q.P9999Us), "", true
	case "max":
		return float64(q.MaxUs), "", true
	}
	return 0, fmt.Sprintf("statistic %q is not in the result", name), false
}

func join(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}
