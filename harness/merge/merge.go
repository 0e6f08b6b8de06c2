// Package merge builds one result from the results of a run's segments (worker
// processes or Kubernetes pods that each ran a slice of the same scenario
// against the same pipeline): histograms are merged bucket by bucket and
// percentiles recomputed from them — never averaged — and delivery accounting
// and the per-second series are summed. Closed-loop (burst) results are refused:
// their rates cannot be rebuilt from the parts.
package merge

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/citybench/citybench/harness/ledger"
	"github.com/citybench/citybench/harness/schedule"
	"github.com/citybench/citybench/harness/slo"
	"github.com/citybench/citybench/reports/result"
	"github.com/citybench/citybench/scenarios"
)

// Results merges the results of every segment of one run. They must come from
// the same scenario (file hash) and seed and cover each segment i/n exactly once.
func Results(parts []*result.Result) (*result.Result, error) {
	if err := checkParts(parts); err != nil {
		return nil, err
	}
	parts = slices.Clone(parts)
	slices.SortFunc(parts, func(a, b *result.Result) int { return cmp.Compare(segmentIndex(a), segmentIndex(b)) })
	first := parts[0]
	out := &result.Result{
		SchemaVersion: result.SchemaVersion,
		Meta:          first.Meta,
		Phases:        first.Phases,
		Counters:      map[string]int64{},
	}
	out.Meta.Segment = ""
	out.Meta.Segments = len(parts)
	out.Meta.Devices = 0
	lag := newHist()
	for _, p := range parts {
		out.Meta.Devices += p.Meta.Devices
		if p.Meta.StartedAt.Before(out.Meta.StartedAt) {
			out.Meta.StartedAt = p.Meta.StartedAt
		}
		if p.Meta.EndedAt.After(out.Meta.EndedAt) {
			out.Meta.EndedAt = p.Meta.EndedAt
		}
		// A partial segment limits the measured window of the whole.
		out.Meta.DurationS = min(out.Meta.DurationS, p.Meta.DurationS)
		for _, f := range p.Flags {
			if !slices.Contains(out.Flags, f) {
				out.Flags = append(out.Flags, f)
			}
		}
		for _, w := range p.Warnings {
			out.Warnings = append(out.Warnings, fmt.Sprintf("segment %s: %s", p.Meta.Segment, w))
		}
		for k, v := range p.Counters {
			out.Counters[k] += v
		}
		for kind, codes := range p.MQTT5ReasonCodes {
			if out.MQTT5ReasonCodes == nil {
				out.MQTT5ReasonCodes = map[string]map[string]int64{}
			}
			if out.MQTT5ReasonCodes[kind] == nil {
				out.MQTT5ReasonCodes[kind] = map[string]int64{}
			}
			for code, n := range codes {
				out.MQTT5ReasonCodes[kind][code] += n
			}
		}
		for _, r := range p.Resources {
			r.Component = fmt.Sprintf("segment %s: %s", p.Meta.Segment, r.Component)
			out.Resources = append(out.Resources, r)
		}
		out.Faults = append(out.Faults, p.Faults...)
		for _, o := range p.TapOutages {
			o.Tap = fmt.Sprintf("segment %s: %s", p.Meta.Segment, o.Tap)
			out.TapOutages = append(out.TapOutages, o)
		}
		addBadInput(out, p)
		if err := addEncoded(lag, p.GeneratorLagHDR); err != nil {
			return nil, fmt.Errorf("segment %s generator lag: %w", p.Meta.Segment, err)
		}
		out.Workers = append(out.Workers, result.Worker{Segment: p.Meta.Segment, Devices: p.Meta.Devices, GeneratorLag: p.GeneratorLag,
			Saturated: p.HasFlag(result.FlagGeneratorSaturated), Errors: p.Counters["errors"]})
	}
	slices.SortStableFunc(out.Faults, func(a, b result.FaultEvent) int { return cmp.Compare(a.AtS, b.AtS) })
	slices.SortStableFunc(out.Resources, func(a, b result.ResourceSample) int { return cmp.Compare(a.AtS, b.AtS) })
	var err error
	out.GeneratorLag = ledger.Quantiles(lag)
	if out.GeneratorLagHDR, err = encode(lag); err != nil {
		return nil, err
	}
	if out.Stages, err = stages(parts); err != nil {
		return nil, err
	}
	if out.Intervals, err = intervals(parts); err != nil {
		return nil, err
	}
	if spread := startSpread(parts); spread > time.Millisecond {
		out.Warnings = append(out.Warnings, fmt.Sprintf("the segments' offset 0 differs by up to %s: their per-second series are added up second by second of the scenario, not of the wall clock — run segments with one --start-at", spread.Round(time.Millisecond)))
	}
	out.SLOs = first.SLOs
	if err := JudgeSLOs(out); err != nil {
		out.Warnings = append(out.Warnings, fmt.Sprintf("SLOs not judged: %v", err))
	}
	return out, nil
}

// segmentIndex is i of a checked result's segment i/n.
func segmentIndex(r *result.Result) int {
	seg, _ := schedule.ParseSegment(cmp.Or(r.Meta.Segment, "0/1")) // checked by checkParts
	return seg.I
}

// startSpread is how far apart the segments' offsets 0 lie (0 when unknown).
func startSpread(parts []*result.Result) time.Duration {
	var lo, hi time.Time
	for _, p := range parts {
		t := p.Meta.OffsetZero
		if t.IsZero() {
			return 0
		}
		if lo.IsZero() || t.Before(lo) {
			lo = t
		}
		if t.After(hi) {
			hi = t
		}
	}
	return hi.Sub(lo)
}

// ErrClosedLoop refuses burst results. A burst's rate_per_s is delivered /
// (the stage's last observation − the first send), and its messages' intended
// times are the moments their in-flight slots freed: a segment's result keeps
// neither the first send nor the last observation, so no rate of the whole can
// be computed from the parts, and summing per-segment rates would overstate it
// whenever the segments' bursts did not overlap exactly.
var ErrClosedLoop = errors.New("closed-loop (burst) results cannot be merged: the rate of the whole needs the first send and last observation over all devices, which the segments' results do not keep — run a burst scenario in one process")

// checkParts refuses results that are not the segments of one run.
func checkParts(parts []*result.Result) error {
	if len(parts) == 0 {
		return errors.New("merge: no results")
	}
	first := parts[0]
	n := 0
	have := map[int]bool{}
	var errs []error
	for _, p := range parts {
		seg, err := schedule.ParseSegment(cmp.Or(p.Meta.Segment, "0/1"))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if p.HasFlag(result.FlagClosedLoop) {
			errs = append(errs, fmt.Errorf("segment %s is a closed-loop (burst) run: %w", cmp.Or(p.Meta.Segment, "0/1"), ErrClosedLoop))
		}
		if p.Meta.ScenarioHash != first.Meta.ScenarioHash || p.Meta.Seed != first.Meta.Seed {
			errs = append(errs, fmt.Errorf("segment %s ran scenario %s (hash %.12s, seed %d), segment %s ran %s (hash %.12s, seed %d): not one run",
				p.Meta.Segment, p.Meta.Scenario, p.Meta.ScenarioHash, p.Meta.Seed, first.Meta.Segment, first.Meta.Scenario, first.Meta.ScenarioHash, first.Meta.Seed))
		}
		if n != 0 && seg.N != n {
			errs = append(errs, fmt.Errorf("segments of %d and of %d parts: not one run", n, seg.N))
		}
		n = seg.N
		if have[seg.I] {
			errs = append(errs, fmt.Errorf("segment %s given twice", seg))
		}
		have[seg.I] = true
	}
	if len(errs) == 0 {
		var missing []string
		for i := range n {
			if !have[i] {
				missing = append(missing, fmt.Sprintf("%d/%d", i, n))
			}
		}
		if len(missing) > 0 {
			errs = append(errs, fmt.Errorf("segment(s) %s missing: a merge of part of a run would understate it", strings.Join(missing, ", ")))
		}
	}
	return errors.Join(errs...)
}

func stages(parts []*result.Result) ([]result.StageSummary, error) {
	var out []result.StageSummary
	for _, name := range result.Stages {
		var merged *result.StageSummary
		var notes []string // segments whose note differs from the first's (the API sample's size)
		lat, svc := newHist(), newHist()
		var bytes float64 // total size behind the segments' BytesPerMessage
		for _, p := range parts {
			s := p.Stage(name)
			if s == nil {
				continue
			}
			if merged == nil {
				merged = &result.StageSummary{Stage: name, Note: s.Note}
			} else if s.Note != merged.Note {
				notes = append(notes, fmt.Sprintf("segment %s: %s", p.Meta.Segment, s.Note))
			}
			merged.Sampled = merged.Sampled || s.Sampled
			addDelivery(&merged.Delivery, s.Delivery)
			bytes += s.BytesPerMessage * float64(s.SizedMessages)
			merged.SizedMessages += s.SizedMessages
			if err := addEncoded(lat, s.LatencyHDR); err != nil {
				return nil, fmt.Errorf("segment %s %s latency: %w", p.Meta.Segment, name, err)
			}
			if err := addEncoded(svc, s.ServiceTimeHDR); err != nil {
				return nil, fmt.Errorf("segment %s %s service time: %w", p.Meta.Segment, name, err)
			}
		}
		if merged == nil {
			continue
		}
		if len(notes) > 0 {
			merged.Note = fmt.Sprintf("segment %s: %s; %s", parts[0].Meta.Segment, merged.Note, strings.Join(notes, "; "))
		}
		merged.Delivery.SetAvailability()
		if merged.SizedMessages > 0 {
			merged.BytesPerMessage = bytes / float64(merged.SizedMessages) // the mean over every sized message, not of the means
		}
		var err error
		merged.Latency = ledger.Quantiles(lat)
		if merged.LatencyHDR, err = encode(lat); err != nil {
			return nil, err
		}
		if name != result.StageSent {
			merged.ServiceTime = ledger.Quantiles(svc)
			if merged.ServiceTimeHDR, err = encode(svc); err != nil {
				return nil, err
			}
		}
		out = append(out, *merged)
	}
	return out, nil
}

func addDelivery(to *result.Delivery, d result.Delivery) {
	to.Expected += d.Expected
	to.Delivered += d.Delivered
	to.Lost += d.Lost
	to.Unverified += d.Unverified
	to.Duplicated += d.Duplicated
	to.Reordered += d.Reordered
	to.Negative += d.Negative
	to.WithinDeadline += d.WithinDeadline
}

// intervals adds the segments' seconds up. The segments share offset 0 (the
// coordinator's start time), so second i of each is the same second.
func intervals(parts []*result.Result) ([]result.Interval, error) {
	n := 0
	for _, p := range parts {
		n = max(n, len(p.Intervals))
	}
	out := make([]result.Interval, n)
	for i := range out {
		out[i] = result.Interval{StartS: float64(i), Stages: map[string]result.IntervalStage{}}
		lag := newHist()
		stageHists := map[string]*hdrhistogram.Histogram{}
		for _, p := range parts {
			if i >= len(p.Intervals) {
				continue
			}
			iv := p.Intervals[i]
			out[i].Offered += iv.Offered
			out[i].Errors += iv.Errors
			out[i].Connections += iv.Connections
			if err := addEncoded(lag, iv.GenLagHDR); err != nil {
				return nil, fmt.Errorf("segment %s second %d generator lag: %w", p.Meta.Segment, i, err)
			}
			for name, st := range iv.Stages {
				h, ok := stageHists[name]
				if !ok {
					h = newHist()
					stageHists[name] = h
				}
				if err := addEncoded(h, st.LatencyHDR); err != nil {
					return nil, fmt.Errorf("segment %s second %d %s: %w", p.Meta.Segment, i, name, err)
				}
			}
		}
		if lag.TotalCount() > 0 {
			out[i].GenLagP99Us = lag.ValueAtQuantile(99)
			enc, err := encode(lag)
			if err != nil {
				return nil, err
			}
			out[i].GenLagHDR = enc
		}
		for name, h := range stageHists {
			st := result.IntervalStage{}
			if h.TotalCount() > 0 {
				enc, err := encode(h)
				if err != nil {
					return nil, err
				}
				st = result.IntervalStage{Delivered: h.TotalCount(), P50Us: h.ValueAtQuantile(50), P99Us: h.ValueAtQuantile(99), MaxUs: h.Max(), LatencyHDR: enc}
			}
			out[i].Stages[name] = st
		}
	}
	return out, nil
}

// JudgeSLOs evaluates r's SLOs again — the expressions its verdicts name, as
// the segments wrote them — on r's own (merged) figures.
func JudgeSLOs(r *result.Result) error {
	var slos []scenarios.SLO
	for _, v := range r.SLOs {
		s, err := scenarios.ParseSLO(v.Expr)
		if err != nil {
			return fmt.Errorf("%q: %w", v.Expr, err)
		}
		slos = append(slos, s)
	}
	if len(slos) > 0 {
		r.SLOs = slo.Evaluate(slos, r)
	}
	return nil
}

func newHist() *hdrhistogram.Histogram { return ledger.NewHistogram() }

// addEncoded merges a base64 V2-compressed histogram into h; "" adds nothing.
func addEncoded(h *hdrhistogram.Histogram, enc string) error {
	if enc == "" {
		return nil
	}
	from, err := hdrhistogram.Decode([]byte(enc))
	if err != nil {
		return fmt.Errorf("decode histogram: %w", err)
	}
	if dropped := h.Merge(from); dropped > 0 {
		return fmt.Errorf("%d values outside the histogram's range", dropped)
	}
	return nil
}

func encode(h *hdrhistogram.Histogram) (string, error) {
	b, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		return "", fmt.Errorf("encode histogram: %w", err)
	}
	return string(b), nil
}

// Mismatches lists where two results of the same load disagree on what a merge
// must keep exact: devices, and per stage the expected, delivered, lost,
// unverified and duplicated counts and the number of latencies recorded. Nil means they agree.
func Mismatches(a, b *result.Result) []string {
	var out []string
	if a.Meta.Devices != b.Meta.Devices {
		out = append(out, fmt.Sprintf("devices: %d and %d", a.Meta.Devices, b.Meta.Devices))
	}
	if len(a.Stages) != len(b.Stages) {
		out = append(out, fmt.Sprintf("%d and %d stages", len(a.Stages), len(b.Stages)))
	}
	for _, sa := range a.Stages {
		sb := b.Stage(sa.Stage)
		if sb == nil {
			out = append(out, fmt.Sprintf("stage %s missing from the second", sa.Stage))
			continue
		}
		da, db := sa.Delivery, sb.Delivery
		if da.Expected != db.Expected || da.Delivered != db.Delivered || da.Lost != db.Lost || da.Unverified != db.Unverified ||
			da.Duplicated != db.Duplicated || sa.Latency.Count != sb.Latency.Count {
			out = append(out, fmt.Sprintf("stage %s: expected %d/%d delivered %d/%d lost %d/%d unverified %d/%d duplicated %d/%d latencies %d/%d",
				sa.Stage, da.Expected, db.Expected, da.Delivered, db.Delivered, da.Lost, db.Lost, da.Unverified, db.Unverified,
				da.Duplicated, db.Duplicated, sa.Latency.Count, sb.Latency.Count))
		}
	}
	return out
}
