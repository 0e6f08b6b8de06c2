package ledger

import (
	"fmt"
	"sort"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/citybench/citybench/reports/result"
)

// Window says which messages a summary is about.
type Window struct {
	// From is the offset where measurement starts (after warm-up); messages
	// intended earlier are not measured.
	From time.Duration
	// Until is the offset past which nothing was offered (the plan's end, or the
	// moment an interrupted run stopped load).
	Until time.Duration
	// Deadline is the latency within which a delivery counts as available.
	Deadline time.Duration
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

// Summarise computes per-stage histograms and accounting, generator lag and the
// 1-second interval series. Call it after every recorder has stopped.
func (l *Ledger) Summarise(w Window) (*Summary, error) {
	start := l.start.Load()
	nIntervals := int((max(w.Until, w.SeriesUntil)+time.Second-1)/time.Second) + 1
	sum := &Summary{}
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

	genLag := NewHistogram()
	intervalLag := make([]*hdrhistogram.Histogram, nIntervals)
	for dev, d := range l.plan.Devices {
		sent := l.logs[dev].obs[Sent]
		for i, m := range d.Messages {
			if m.At >= w.Until {
				break
			}
			due := l.intendedOffset(dev, i)
			if sec := int(due / time.Second); sec >= 0 && sec < nIntervals {
				intervals[sec].Offered++
			}
			if sent[i] == 0 {
				continue
			}
			lag := clamp((sent[i] - start - int64(due)) / int64(time.Microsecond))
			if m.At >= w.From {
				_ = genLag.RecordValue(lag)
			}
			if sec := secondOf(sent[i], start); sec >= 0 && sec < nIntervals {
				if intervalLag[sec] == nil {
					intervalLag[sec] = NewHistogram()
				}
				_ = intervalLag[sec].RecordValue(lag)
			}
		}
	}
	for i, h := range intervalLag {
		if h != nil {
			intervals[i].GenLagP99Us = h.ValueAtQuantile(99)
			enc, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
			if err != nil {
				return nil, fmt.Errorf("encode generator lag interval %d: %w", i, err)
			}
			intervals[i].GenLagHDR = string(enc)
		}
	}
	sum.GeneratorLag = Quantiles(genLag)
	enc, err := genLag.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		return nil, fmt.Errorf("encode generator lag histogram: %w", err)
	}
	sum.GeneratorLagHDR = string(enc)

	firstSent := l.firstSent(w)
	for s := range NumStages {
		st, last, err := l.summariseStage(s, w, intervals)
		if err != nil {
			return nil, err
		}
		if st == nil {
			continue
		}
		if w.ClosedLoop && firstSent != 0 && last > firstSent {
			st.RatePerS = float64(st.Delivery.Delivered) / time.Duration(last-firstSent).Seconds()
		}
		sum.Stages = append(sum.Stages, *st)
	}
	sum.Intervals = intervals
	return sum, nil
}

// dupsIn is how many duplicates stage saw during second sec.
func (l *Ledger) dupsIn(s Stage, sec int) int64 {
	if v, ok := l.dupsAt[s].Load(int64(sec)); ok {
		return v.(interface{ Load() int64 }).Load()
	}
	return 0
}

func secondOf(at, start int64) int { return int((at - start) / int64(time.Second)) }

// firstSent is the earliest send (unix ns) of a measured message, 0 if none.
func (l *Ledger) firstSent(w Window) int64 {
	first := int64(0)
	for dev, d := range l.plan.Devices {
		for i, m := range d.Messages {
			if m.At >= w.Until {
				break
			}
			if at := l.logs[dev].obs[Sent][i]; at != 0 && m.At >= w.From && (first == 0 || at < first) {
				first = at
			}
		}
	}
	return first
}

// summariseStage returns nil when the stage expected nothing (e.g. acks at QoS
// 0), and the stage's last observation (unix ns) of a measured message.
func (l *Ledger) summariseStage(s Stage, w Window, intervals []result.Interval) (*result.StageSummary, int64, error) {
	start := l.start.Load()
	lat, svc := NewHistogram(), NewHistogram()
	perInterval := make([]*hdrhistogram.Histogram, len(intervals))
	// By intended second: what the stage should see, what it never saw, what it saw within the deadline.
	expected, lost, onTime := make([]int64, len(intervals)), make([]int64, len(intervals)), make([]int64, len(intervals))
	var dl result.Delivery
	var last int64
	deadlineUs := int64(w.Deadline / time.Microsecond)
	for dev, d := range l.plan.Devices {
		if w.Expect != nil && !w.Expect(s, dev) {
			continue
		}
		log := &l.logs[dev]
		obs, sent := log.obs[s], log.obs[Sent]
		measured := false
		for i, m := range d.Messages {
			if m.At >= w.Until {
				break
			}
			if refused(s, &m) {
				continue
			}
			at := obs[i]
			due := l.intendedOffset(dev, i)
			if sec := int(due / time.Second); sec >= 0 && sec < len(intervals) {
				expected[sec]++
				if at == 0 {
					lost[sec]++
				} else if at-start-int64(due) <= int64(w.Deadline) {
					onTime[sec]++
				}
			}
			if at != 0 {
				if sec := secondOf(at, start); sec >= 0 && sec < len(intervals) {
					if perInterval[sec] == nil {
						perInterval[sec] = NewHistogram()
					}
					_ = perInterval[sec].RecordValue(clamp((at - start - int64(due)) / int64(time.Microsecond)))
				}
			}
			if m.At < w.From {
				continue
			}
			measured = true
			dl.Expected++
			if at == 0 {
				if w.Unverified != nil && w.Unverified(s, dev, due) {
					dl.Unverified++
				} else {
					dl.Lost++
				}
				continue
			}
			dl.Delivered++
			last = max(last, at)
			latUs := (at - start - int64(due)) / int64(time.Microsecond)
			if latUs < 0 {
				dl.Negative++
			}
			_ = lat.RecordValue(clamp(latUs))
			if latUs <= deadlineUs {
				dl.WithinDeadline++
			}
			if sent[i] != 0 {
				_ = svc.RecordValue(clamp((at - sent[i]) / int64(time.Microsecond)))
			}
		}
		if measured {
			dl.Duplicated += log.dups[s]
			dl.Reordered += log.reordered[s]
		}
	}
	if dl.Expected == 0 {
		return nil, 0, nil
	}
	dl.SetAvailability()
	for i, h := range perInterval {
		is := result.IntervalStage{Expected: expected[i], Lost: lost[i], OnTime: onTime[i], Duplicated: l.dupsIn(s, i)}
		// A second without deliveries is a zero in the series, not a gap.
		if h != nil {
			enc, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
			if err != nil {
				return nil, 0, fmt.Errorf("encode %s interval %d: %w", s, i, err)
			}
			is.Delivered, is.P50Us, is.P99Us, is.MaxUs, is.LatencyHDR = h.TotalCount(), h.ValueAtQuantile(50), h.ValueAtQuantile(99), h.Max(), string(enc)
		}
		intervals[i].Stages[s.String()] = is
	}
	st := &result.StageSummary{Stage: s.String(), Latency: Quantiles(lat), Delivery: dl}
	st.BytesPerMessage, st.SizedMessages = l.BytesPerMessage(s)
	st.Sampled = s == API // the API tap polls a sample of devices
	latEnc, err := lat.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		return nil, 0, fmt.Errorf("encode %s latency: %w", s, err)
	}
	st.LatencyHDR = string(latEnc)
	if s != Sent {
		st.ServiceTime = Quantiles(svc)
		svcEnc, err := svc.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
		if err != nil {
			return nil, 0, fmt.Errorf("encode %s service time: %w", s, err)
		}
		st.ServiceTimeHDR = string(svcEnc)
	}
	return st, last, nil
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

// SampleTrace is one message's timestamps across stages (unix ns, 0 = not seen),
// used to check stage ordering.
type SampleTrace struct {
	Device   string
	Seq      uint64
	Intended int64
	At       [NumStages]int64
}

// Traces returns the traces of up to n messages spread evenly over the plan.
func (l *Ledger) Traces(n int) []SampleTrace {
	total := l.plan.Count()
	if total == 0 || n <= 0 {
		return nil
	}
	step := max(total/n, 1)
	var out []SampleTrace
	k := 0
	for dev, d := range l.plan.Devices {
		for i := range d.Messages {
			if k%step == 0 {
				t := SampleTrace{Device: d.ID, Seq: uint64(i + 1), Intended: l.Intended(dev, uint64(i+1))}
				for s := range NumStages {
					t.At[s] = l.logs[dev].obs[s][i]
				}
				out = append(out, t)
			}
			k++
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Intended < out[j].Intended })
	return out
}
