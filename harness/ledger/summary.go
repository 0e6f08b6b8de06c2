package ledger

import (
	"fmt"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/citybench/citybench/reports/result"
)

// Window says which messages a summary is about. Measurement starts at the
// plan's warm-up; the deadline is the ledger's (WithDeadline).
type Window struct {
	// Until is the offset past which nothing was offered (the plan's end, or the
	// moment an interrupted run stopped load).
	Until time.Duration
	// Expect says whether stage should see device dev's messages at all (no acks
	// at QoS 0; the API tap polls only sampled devices). Nil expects everything.
	Expect func(stage Stage, dev int) bool
	// Connections is the number of open device connections at the end of each second.
	Connections []int64
	// SeriesUntil, when past Until, extends the interval series through the
	// drain, so the catch-up after a fault late in the run is in the series.
	SeriesUntil time.Duration
	// Unverified says whether an unseen message of device dev intended at offset
	// at is one stage's tap could not check: it is then counted as unverified, not
	// lost. Nil: every tap checked everything.
	Unverified func(stage Stage, dev int, at time.Duration) bool
	// ClosedLoop asks for each stage's rate: delivered / (its last observation −
	// the first send), the figure a burst is judged by.
	ClosedLoop bool
}

// Summary is what the ledger contributes to a result.
type Summary struct {
	Stages          []result.StageSummary
	GeneratorLag    result.Quantiles
	GeneratorLagHDR string
	Intervals       []result.Interval
}

// expectation is, per stage, what the plan offered before Until: counts by
// intended second and the delivery accounting only the plan can give (expected,
// lost, unverified, and the duplicates and reorderings of measured devices).
type expectation struct {
	expected, lost [NumStages][]int64
	delivery       [NumStages]result.Delivery
}

// Summarise computes per-stage histograms and accounting, generator lag and the
// 1-second interval series. Call it after every recorder has stopped; it
// settles the ledger first. It walks the plan once more (computing every
// message from the seed again) to count what was offered and what was never seen.
func (l *Ledger) Summarise(w Window) (*Summary, error) {
	l.Settle()
	nIntervals := int((max(w.Until, w.SeriesUntil)+time.Second-1)/time.Second) + 1
	intervals := make([]result.Interval, nIntervals)
	for i := range intervals {
		intervals[i] = result.Interval{StartS: float64(i), Stages: map[string]result.IntervalStage{}}
		if i < len(w.Connections) {
			intervals[i].Connections = w.Connections[i]
		}
	}
	l.errorsAt.Range(func(k, v any) bool {
		if sec := int(k.(int64)); sec >= 0 && sec < nIntervals {
			intervals[sec].Errors = v.(interface{ Load() int64 }).Load()
		}
		return true
	})
	ex := l.expect(w, intervals)
	sum := &Summary{}
	sent := &l.acc[Sent]
	sum.GeneratorLag = Quantiles(sent.lat)
	enc, err := sent.lat.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		return nil, fmt.Errorf("encode generator lag histogram: %w", err)
	}
	sum.GeneratorLagHDR = string(enc)
	scratch := NewHistogram()
	for i := range min(len(sent.bySec), nIntervals) {
		if h := sent.bySec[i]; h != nil {
			scratch.Reset()
			h.into(scratch)
			intervals[i].GenLagP99Us = scratch.ValueAtQuantile(99)
			enc, err := scratch.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
			if err != nil {
				return nil, fmt.Errorf("encode generator lag interval %d: %w", i, err)
			}
			intervals[i].GenLagHDR = string(enc)
		}
	}
	for s := range NumStages {
		if ex.delivery[s].Expected == 0 {
			continue // the stage expected nothing (e.g. acks at QoS 0)
		}
		st, err := l.summariseStage(s, w, ex, intervals, scratch)
		if err != nil {
			return nil, err
		}
		if a := &l.acc[s]; w.ClosedLoop && sent.first != 0 && a.last > sent.first {
			st.RatePerS = float64(st.Delivery.Delivered) / time.Duration(a.last-sent.first).Seconds()
		}
		sum.Stages = append(sum.Stages, *st)
	}
	sum.Intervals = intervals
	return sum, nil
}

// expect walks the plan's messages intended before w.Until, adding each to the
// offered series, and per expected stage to what the stage should have seen and
// — if its window says it never did — to what it lost (or could not verify).
func (l *Ledger) expect(w Window, intervals []result.Interval) *expectation {
	ex := &expectation{}
	for s := range NumStages {
		ex.expected[s], ex.lost[s] = make([]int64, len(intervals)), make([]int64, len(intervals))
	}
	start := l.start.Load()
	for dev, d := range l.plan.Devices {
		log := &l.logs[dev]
		var expected, measured [NumStages]bool
		for s := range NumStages {
			expected[s] = w.Expect == nil || w.Expect(s, dev)
		}
		c := d.Cursor()
		for m, ok := c.Next(); ok && m.At < w.Until; m, ok = c.Next() {
			due := time.Duration(l.intended(log, m.Seq, m.At) - start)
			sec := int(due / time.Second)
			inSeries := sec >= 0 && sec < len(intervals)
			if inSeries {
				intervals[sec].Offered++
			}
			for s := range NumStages {
				if !expected[s] || refused(s, &m) {
					continue
				}
				seen := log.seen(s, m.Seq)
				if inSeries {
					ex.expected[s][sec]++
					if !seen {
						ex.lost[s][sec]++
					}
				}
				if m.At < l.plan.Warmup {
					continue
				}
				measured[s] = true
				dl := &ex.delivery[s]
				dl.Expected++
				switch {
				case seen:
				case w.Unverified != nil && w.Unverified(s, dev, due):
					dl.Unverified++
				default:
					dl.Lost++
				}
			}
		}
		for s := range NumStages {
			if measured[s] {
				ex.delivery[s].Duplicated += log.win[s].dups
				ex.delivery[s].Reordered += log.win[s].reord
			}
		}
	}
	return ex
}

// summariseStage builds stage s's summary and its entries in the interval series.
func (l *Ledger) summariseStage(s Stage, w Window, ex *expectation, intervals []result.Interval, scratch *hdrhistogram.Histogram) (*result.StageSummary, error) {
	a := &l.acc[s]
	dl := ex.delivery[s]
	dl.Delivered, dl.WithinDeadline, dl.Negative = a.delivered, a.within, a.negative
	dl.SetAvailability()
	for i := range intervals {
		is := result.IntervalStage{Expected: ex.expected[s][i], Lost: ex.lost[s][i], Duplicated: l.dupsIn(s, i)}
		if i < len(a.onTime) {
			is.OnTime = a.onTime[i]
		}
		// A second without deliveries is a zero in the series, not a gap.
		if i < len(a.bySec) && a.bySec[i] != nil {
			scratch.Reset()
			a.bySec[i].into(scratch)
			enc, err := scratch.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
			if err != nil {
				return nil, fmt.Errorf("encode %s interval %d: %w", s, i, err)
			}
			is.Delivered, is.P50Us, is.P99Us, is.MaxUs, is.LatencyHDR = scratch.TotalCount(), scratch.ValueAtQuantile(50), scratch.ValueAtQuantile(99), scratch.Max(), string(enc)
		}
		intervals[i].Stages[s.String()] = is
	}
	st := &result.StageSummary{Stage: s.String(), Latency: Quantiles(a.lat), Delivery: dl}
	st.BytesPerMessage, st.SizedMessages = l.BytesPerMessage(s)
	st.Sampled = s == API // the API tap polls a sample of devices
	latEnc, err := a.lat.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		return nil, fmt.Errorf("encode %s latency: %w", s, err)
	}
	st.LatencyHDR = string(latEnc)
	if s != Sent {
		st.ServiceTime = Quantiles(a.svc)
		svcEnc, err := a.svc.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
		if err != nil {
			return nil, fmt.Errorf("encode %s service time: %w", s, err)
		}
		st.ServiceTimeHDR = string(svcEnc)
	}
	return st, nil
}

// dupsIn is how many duplicates stage saw during second sec.
func (l *Ledger) dupsIn(s Stage, sec int) int64 {
	if v, ok := l.dupsAt[s].Load(int64(sec)); ok {
		return v.(interface{ Load() int64 }).Load()
	}
	return 0
}

// Quantiles summarises h.
func Quantiles(h *hdrhistogram.Histogram) result.Quantiles {
	if h.TotalCount() == 0 {
		return result.Quantiles{}
	}
	return result.Quantiles{
		Count:   h.TotalCount(),
		MinUs:   h.Min(),
		MeanUs:  h.Mean(),
		P50Us:   h.ValueAtQuantile(50),
		P90Us:   h.ValueAtQuantile(90),
		P99Us:   h.ValueAtQuantile(99),
		P999Us:  h.ValueAtQuantile(99.9),
		P9999Us: h.ValueAtQuantile(99.99),
		MaxUs:   h.Max(),
	}
}
