package ledger

import (
	"math/bits"
	"sort"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/citybench/citybench/harness/schedule"
)

// stageAcc is what one stage's sightings add up to once their messages left
// the in-flight window: whole-run histograms of measured messages, the
// per-second latency counts, and the counts behind delivery accounting.
type stageAcc struct {
	mu       sync.Mutex
	lat, svc *hdrhistogram.Histogram
	// bySec holds the latencies of sightings by the second they happened in,
	// onTime the sightings within the deadline by their intended second.
	bySec  []secHist
	onTime []int64
	// Of measured messages (intended at or after the warm-up):
	delivered, within, negative int64
	first, last                 int64 // earliest and latest sighting, unix ns
}

func (a *stageAcc) init() { a.lat, a.svc = NewHistogram(), NewHistogram() }

// add counts one first sighting at unix ns at of a message planned at offset
// planAt, intended at unix ns intended and sent at unix ns sent (0: unknown).
func (a *stageAcc) add(l *Ledger, s Stage, planAt time.Duration, intended, at, sent int64) {
	start := l.start.Load()
	latUs := (at - intended) / int64(time.Microsecond)
	a.mu.Lock()
	defer a.mu.Unlock()
	if sec := secondOf(at, start); sec >= 0 {
		a.bySec = grown(a.bySec, sec)
		if a.bySec[sec] == nil {
			a.bySec[sec] = secHist{}
		}
		a.bySec[sec].record(clamp(latUs))
	}
	if due := int((intended - start) / int64(time.Second)); due >= 0 && at-intended <= int64(l.deadline) {
		a.onTime = grown(a.onTime, due)
		a.onTime[due]++
	}
	if planAt < l.plan.Warmup {
		return
	}
	a.delivered++
	a.last = max(a.last, at)
	if a.first == 0 || at < a.first {
		a.first = at
	}
	if latUs < 0 {
		a.negative++
	}
	_ = a.lat.RecordValue(clamp(latUs))
	if latUs <= int64(l.deadline/time.Microsecond) {
		a.within++
	}
	if s != Sent && sent != 0 {
		_ = a.svc.RecordValue(clamp((at - sent) / int64(time.Microsecond)))
	}
}

// grown returns xs long enough to index i.
func grown[T any](xs []T, i int) []T {
	if i < len(xs) {
		return xs
	}
	return append(xs, make([]T, i+1-len(xs))...)
}

func secondOf(at, start int64) int { return int((at - start) / int64(time.Second)) }

// secHist is one second's latencies as counts per histogram bucket, keyed by
// the bucket's lowest value: a second holds a few hundred distinct buckets at
// most, where a full histogram of citybench's bounds is 180 KiB. Adding its
// counts to a histogram gives exactly the histogram of the values recorded.
type secHist map[int64]int64

func (h secHist) record(us int64) { h[bucketOf(us)]++ }

// subBucketBits is log2 of the sub-buckets per bucket of a histogram of
// SigFigs significant figures from MinUs = 1 (2·10³ rounded up to 2048).
const subBucketBits = 11

// bucketOf is the lowest value of the histogram bucket us falls in.
func bucketOf(us int64) int64 {
	shift := max(bits.Len64(uint64(us))-subBucketBits, 0)
	return us >> shift << shift
}

// into adds h's counts to dst, in a fixed order.
func (h secHist) into(dst *hdrhistogram.Histogram) {
	keys := make([]int64, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	for _, k := range keys {
		_ = dst.RecordValues(k, h[k])
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

// traceSet keeps the traces of messages spread evenly over the plan — every
// step-th message in device order — as they leave the in-flight window.
type traceSet struct {
	step uint64   // 0: keep none
	base []uint64 // per device: the plan-order index of its first message
	mu   sync.Mutex
	got  map[[2]uint64]*SampleTrace // (device, seq) → trace
}

func (t *traceSet) init(p *schedule.Plan, n int) {
	total := p.Count()
	if total == 0 || n <= 0 {
		return
	}
	t.step = uint64(max(total/n, 1))
	t.base = make([]uint64, len(p.Devices))
	k := uint64(0)
	for i, d := range p.Devices {
		t.base[i] = k
		k += uint64(d.Count())
	}
	t.got = map[[2]uint64]*SampleTrace{}
}

func (t *traceSet) sampled(dev int, seq uint64) bool {
	return t.step != 0 && (t.base[dev]+seq-1)%t.step == 0
}

// capture keeps a sampled message's times as it leaves the window.
func (t *traceSet) capture(dev int, seq uint64, intended int64, at [NumStages]int64) {
	if !t.sampled(dev, seq) {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.got[[2]uint64{uint64(dev), seq}] = &SampleTrace{Seq: seq, Intended: intended, At: at}
}

// update adds a sighting of a message that had left the window.
func (t *traceSet) update(dev int, seq uint64, s Stage, at int64) {
	if !t.sampled(dev, seq) {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if tr := t.got[[2]uint64{uint64(dev), seq}]; tr != nil {
		tr.At[s] = at
	}
}

// Traces returns the traces the ledger was asked to keep (WithTraces) — every
// message of the sample, seen or not — in intended-time order. Call it after
// Settle.
func (l *Ledger) Traces() []SampleTrace {
	t := &l.traces
	if t.step == 0 {
		return nil
	}
	var out []SampleTrace
	for dev, d := range l.plan.Devices {
		first := (t.step - t.base[dev]%t.step) % t.step // seq-1 of the device's first sampled message
		for i := first; i < uint64(d.Count()); i += t.step {
			seq := i + 1
			tr := SampleTrace{Device: d.ID, Seq: seq, Intended: l.Intended(dev, seq)}
			if got := t.got[[2]uint64{uint64(dev), seq}]; got != nil {
				tr.At = got.At
			}
			out = append(out, tr)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Intended < out[j].Intended })
	return out
}
