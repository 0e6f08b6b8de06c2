// Package recovery computes what each fault of a run did to each stage — impact
// start and end, unavailability, time to recover and the messages delayed, lost
// and duplicated inside the fault's window — from the result's 1-second interval
// series. It reads only the result, so old results can be analysed again.
//
// Definitions (docs/faults.md explains them with examples):
//   - baseline: the median of the stage's 1-second p50 latencies in the 10 s
//     before the fault (measured window only); the band is max(1.5 × baseline,
//     baseline + 100 ms). The median p50 rather than a tail: on a shared host the
//     tail of a healthy second is noisy, and a fault that matters delays most
//     messages, not only the slowest;
//   - a second is impaired when the stage was expected to deliver and delivered
//     nothing, or its p50 latency left the band;
//   - recovery: the first second after the fault's start from which a sliding
//     window of 3 seconds is unimpaired; time to recover is from the fault's start;
//   - unavailable: seconds of the window in which nothing was delivered within the
//     availability deadline;
//   - the window's messages are those intended between the fault's start and the
//     recovery: delayed (delivered after the deadline), lost, duplicated.
package recovery

import (
	"math"
	"slices"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/citybench/citybench/reports/result"
)

// Tunables of the definitions above.
const (
	BaselineWindow = 10 * time.Second
	SlidingWindow  = 3 // seconds that must all be unimpaired
	bandFactor     = 1.5
	bandMarginUs   = 100_000
)

// Analyse fills res.Faults[i].Stages for every fault that was performed.
// deadline is the scenario's availability deadline.
func Analyse(res *result.Result, deadline time.Duration) {
	for i := range res.Faults {
		f := &res.Faults[i]
		f.Stages = nil
		if f.Error != "" {
			continue
		}
		until := len(res.Intervals)
		if i+1 < len(res.Faults) {
			until = min(until, int(math.Ceil(res.Faults[i+1].AtS))) // the next fault's effects are its own
		}
		for _, st := range res.Stages {
			if st.Stage == result.StageSent {
				continue
			}
			f.Stages = append(f.Stages, analyseStage(res, st.Stage, f.AtS, f.EndS, until, deadline))
		}
	}
}

// second is one interval of one stage, decoded.
type second struct {
	result.IntervalStage
	minUs int64
}

func (s second) impaired(threshold int64) bool {
	if s.Delivered == 0 {
		return s.Expected > 0
	}
	return s.P50Us > threshold
}

func analyseStage(res *result.Result, stage string, atS, endS float64, until int, deadline time.Duration) result.FaultImpact {
	secs := make([]second, len(res.Intervals))
	for i, iv := range res.Intervals {
		is := iv.Stages[stage]
		secs[i] = second{IntervalStage: is, minUs: minLatency(is)}
	}
	imp := result.FaultImpact{Stage: stage}
	start := int(math.Floor(atS))
	from := max(int(math.Floor(res.Meta.MeasuredFromS)), start-int(BaselineWindow/time.Second))
	var p50s []int64
	for t := max(from, 0); t < start && t < len(secs); t++ {
		if secs[t].Delivered > 0 {
			p50s = append(p50s, secs[t].P50Us)
		}
	}
	if len(p50s) > 0 {
		slices.Sort(p50s)
		imp.BaselineP50Us = p50s[len(p50s)/2]
	}
	imp.ThresholdUs = max(int64(float64(imp.BaselineP50Us)*bandFactor), imp.BaselineP50Us+bandMarginUs)
	if imp.BaselineP50Us == 0 {
		imp.ThresholdUs = deadline.Microseconds() // nothing to compare with: the deadline is the band
	}
	end := until // exclusive: the first second of the stable window
	lastImpaired := start - 1
	for t := start; t < until; t++ {
		if secs[t].impaired(imp.ThresholdUs) {
			if !imp.Impacted {
				imp.Impacted, imp.ImpactStartS = true, float64(t)
			}
			lastImpaired = t
			continue
		}
		if t-lastImpaired >= SlidingWindow {
			end, imp.Recovered = lastImpaired+1, true
			break
		}
	}
	imp.RecoveryS = max(0, float64(end)-atS)
	if imp.Impacted {
		imp.ImpactEndS = float64(end)
	}
	// The messages of the window: intended from the fault's start until it healed
	// or the stage recovered, whichever is later.
	var onTime int64
	deadlineUs := deadline.Microseconds()
	for t := start; t < max(end, int(math.Ceil(endS))) && t < len(secs); t++ {
		s := secs[t]
		if t < end && (s.Delivered == 0 || s.minUs > deadlineUs) {
			imp.UnavailableS++
		}
		imp.Expected += s.Expected
		imp.Lost += s.Lost
		onTime += s.OnTime
		imp.Duplicated += s.Duplicated
	}
	imp.Delayed = imp.Expected - imp.Lost - onTime
	if imp.Expected > 0 {
		imp.Availability = float64(onTime) / float64(imp.Expected)
	}
	return imp
}

// minLatency is the fastest delivery of the second (0 when none or undecodable:
// a second with deliveries then counts as available, never the other way).
func minLatency(is result.IntervalStage) int64 {
	if is.Delivered == 0 || is.LatencyHDR == "" {
		return 0
	}
	h, err := hdrhistogram.Decode([]byte(is.LatencyHDR))
	if err != nil {
		return 0
	}
	return h.Min()
}
