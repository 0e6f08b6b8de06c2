// Package ledger records, for every planned message, when each stage first saw it
// and how often it saw it again. It is the run's raw truth: histograms, interval
// series and delivery accounting are all computed from it after the run.
package ledger

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/citybench/citybench/harness/schedule"
)

// Stage indexes the stages in pipeline order (result.Stages has their names).
type Stage int

// Stages, in pipeline order.
const (
	Sent Stage = iota
	Acked
	Broker
	Kafka
	Store
	API
	NumStages
)

// Names of the stages, matching result.Stages.
var stageNames = [NumStages]string{"sent", "acked", "broker", "kafka", "store", "api"}

func (s Stage) String() string { return stageNames[s] }

// Histogram bounds: 1 µs to one hour at three significant digits.
const (
	MinUs   = 1
	MaxUs   = int64(time.Hour / time.Microsecond)
	SigFigs = 3
)

// NewHistogram returns a histogram with the bounds every citybench histogram uses,
// so any two can be merged.
func NewHistogram() *hdrhistogram.Histogram { return hdrhistogram.New(MinUs, MaxUs, SigFigs) }

// Ledger is safe for concurrent use under one rule: for a given stage, all
// observations of one device come from one goroutine (a device's publisher, the
// broker tap's handler, the Kafka reader of the device's partition). That makes
// per-device order tracking exact without locks on the hot path.
type Ledger struct {
	plan  *schedule.Plan
	start atomic.Int64 // unix ns of offset 0
	logs  []deviceLog
	byID  map[string]int

	delivered [NumStages]atomic.Int64 // first observations, for live progress
	refused   atomic.Int64            // malformed messages sent: a correct pipeline passes none of them on
	unknown   [NumStages]atomic.Int64 // observations of messages not in the plan
	errors    atomic.Int64
	errorsAt  sync.Map            // second index → *atomic.Int64
	dupsAt    [NumStages]sync.Map // second index → *atomic.Int64: when duplicates arrived
	live      [NumStages]liveHist
}

type deviceLog struct {
	obs [NumStages][]int64 // unix ns of first observation, 0 = never
	// bytes and sized sum the payload (sent) or stored value (store) bytes of
	// first sightings and how many messages they cover: per device, so the
	// publish path adds to memory only its own goroutine writes.
	bytes, sized [NumStages]int64
	// intended holds the run-time intended send times (unix ns, 0 = not yet
	// due) of a closed-loop burst device, whose messages become due when an
	// in-flight slot frees; nil for devices that follow the plan's clock.
	intended  []atomic.Int64
	dups      [NumStages]int64
	reordered [NumStages]int64
	maxSeq    [NumStages]uint64
	window    [NumStages]*seqWindow // for progressStages only
}

type liveHist struct {
	mu sync.Mutex
	h  *hdrhistogram.Histogram
}

// New allocates a ledger for plan.
func New(plan *schedule.Plan) *Ledger {
	l := &Ledger{plan: plan, logs: make([]deviceLog, len(plan.Devices)), byID: make(map[string]int, len(plan.Devices))}
	for i, d := range plan.Devices {
		l.byID[d.ID] = i
		for s := range NumStages {
			l.logs[i].obs[s] = make([]int64, len(d.Messages))
			if progressStages[s] {
				l.logs[i].window[s] = newSeqWindow()
			}
		}
		if d.Fleet.Arrival.Burst() {
			l.logs[i].intended = make([]atomic.Int64, len(d.Messages))
		}
	}
	for s := range NumStages {
		l.live[s].h = NewHistogram()
	}
	l.expectRefusals()
	return l
}

// Plan returns the plan the ledger records.
func (l *Ledger) Plan() *schedule.Plan { return l.plan }

// SetStart fixes the wall-clock time of offset 0; call it once before load starts.
func (l *Ledger) SetStart(t time.Time) { l.start.Store(t.UnixNano()) }

// Start is the wall-clock time of offset 0; the zero time until SetStart.
func (l *Ledger) Start() time.Time {
	ns := l.start.Load()
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// Intended is the intended send time (unix ns) of device dev's message seq: the
// plan's, or for a burst device the moment recorded by SetIntended (the plan's
// earliest start until then).
func (l *Ledger) Intended(dev int, seq uint64) int64 {
	if in := l.logs[dev].intended; in != nil {
		if at := in[seq-1].Load(); at != 0 {
			return at
		}
	}
	return l.start.Load() + int64(l.plan.Devices[dev].Messages[seq-1].At)
}

// SetIntended records when a burst device's message seq became due (unix ns):
// when an in-flight slot freed for it. Call it before observing it sent. It is
// ignored for devices that follow the plan's clock.
func (l *Ledger) SetIntended(dev int, seq uint64, at int64) {
	if in := l.logs[dev].intended; in != nil && seq >= 1 && seq <= uint64(len(in)) {
		in[seq-1].Store(at)
	}
}

// intendedOffset is Intended as an offset from the run's start.
func (l *Ledger) intendedOffset(dev, i int) time.Duration {
	return time.Duration(l.Intended(dev, uint64(i+1)) - l.start.Load())
}

// DeviceIndex finds a device by id.
func (l *Ledger) DeviceIndex(id string) (int, bool) {
	i, ok := l.byID[id]
	return i, ok
}

// Observe records that stage saw device dev's message seq at unix ns at. It
// reports whether this was the first sighting. Unknown (dev, seq) pairs — from
// another run or a device outside the plan — are counted, not recorded.
func (l *Ledger) Observe(stage Stage, dev int, seq uint64, at int64) bool {
	if dev < 0 || dev >= len(l.logs) || seq == 0 || seq > uint64(len(l.logs[dev].obs[stage])) {
		l.unknown[stage].Add(1)
		return false
	}
	log := &l.logs[dev]
	slot := &log.obs[stage][seq-1]
	if *slot != 0 {
		log.dups[stage]++
		countAt(&l.dupsAt[stage], (at-l.start.Load())/int64(time.Second))
		return false
	}
	*slot = at
	if w := log.window[stage]; w != nil {
		w.observe(seq)
	}
	if seq < log.maxSeq[stage] {
		log.reordered[stage]++
	} else {
		log.maxSeq[stage] = seq
	}
	l.delivered[stage].Add(1)
	if stage == Sent && l.plan.Devices[dev].Messages[seq-1].Malformed != 0 {
		l.refused.Add(1)
	}
	if stage != Sent {
		lat := (at - l.Intended(dev, seq)) / int64(time.Microsecond)
		lh := &l.live[stage]
		lh.mu.Lock()
		_ = lh.h.RecordValue(clamp(lat))
		lh.mu.Unlock()
	}
	return true
}

// ObserveByID is Observe for taps that know the device id, not its index.
func (l *Ledger) ObserveByID(stage Stage, id string, seq uint64, at int64) bool {
	dev, ok := l.byID[id]
	if !ok {
		l.unknown[stage].Add(1)
		return false
	}
	return l.Observe(stage, dev, seq, at)
}

// Seen reports whether stage has seen device dev's message seq (only safe from the
// goroutine that records that stage for that device, or after recording stopped).
func (l *Ledger) Seen(stage Stage, dev int, seq uint64) bool {
	return l.logs[dev].obs[stage][seq-1] != 0
}

// progressStages are the stages whose progress taps ask during the run (the
// store read-back and the API poller): each device keeps a seqWindow for them,
// so the answers come from bounded state, not from the slot per message — the
// shape the bounded recorder will keep.
var progressStages = [NumStages]bool{Store: true, API: true}

// FirstUnseen is the lowest seq of device dev intended before until that stage
// has not seen; ok is false when stage has seen them all. Same safety rule as Seen.
func (l *Ledger) FirstUnseen(stage Stage, dev int, until time.Duration) (seq uint64, ok bool) {
	n := l.intendedBefore(dev, until)
	if w := l.logs[dev].window[stage]; w != nil {
		return w.firstUnseen(n)
	}
	obs := l.logs[dev].obs[stage]
	for i := range n {
		if obs[i] == 0 {
			return i + 1, true
		}
	}
	return 0, false
}

// Missing is how many of device dev's messages intended before until stage has
// not seen. Same safety rule as Seen.
func (l *Ledger) Missing(stage Stage, dev int, until time.Duration) int {
	n := l.intendedBefore(dev, until)
	if w := l.logs[dev].window[stage]; w != nil {
		return w.missing(n)
	}
	missing := 0
	for _, at := range l.logs[dev].obs[stage][:n] {
		if at == 0 {
			missing++
		}
	}
	return missing
}

// intendedBefore is how many of dev's messages are intended before until: seqs
// 1..n, as a device sends in intended-time order.
func (l *Ledger) intendedBefore(dev int, until time.Duration) uint64 {
	msgs := l.plan.Devices[dev].Messages
	return uint64(sort.Search(len(msgs), func(i int) bool { return msgs[i].At >= until }))
}

// Error counts a failure (publish, connect) at unix ns at.
func (l *Ledger) Error(at int64) {
	l.errors.Add(1)
	countAt(&l.errorsAt, (at-l.start.Load())/int64(time.Second))
}

// countAt adds one to second sec's counter in m.
func countAt(m *sync.Map, sec int64) {
	v, _ := m.LoadOrStore(sec, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

// AddBytes adds the size of a message stage saw of device dev: the payload it
// sent, or the value bytes the store holds. The ledger's one-goroutine rule holds:
// calls for one (stage, device) come from the goroutine that observes it.
func (l *Ledger) AddBytes(stage Stage, dev, n int) {
	if dev < 0 || dev >= len(l.logs) {
		return
	}
	l.logs[dev].bytes[stage] += int64(n)
	l.logs[dev].sized[stage]++
}

// BytesPerMessage is the mean size AddBytes recorded for stage (0: none) and
// how many messages it averages over; call it once recording has stopped.
func (l *Ledger) BytesPerMessage(stage Stage) (mean float64, messages int64) {
	var total int64
	for i := range l.logs {
		total += l.logs[i].bytes[stage]
		messages += l.logs[i].sized[stage]
	}
	if messages == 0 {
		return 0, 0
	}
	return float64(total) / float64(messages), messages
}

// Errors is the number of errors so far.
func (l *Ledger) Errors() int64 { return l.errors.Load() }

// Delivered is how many distinct messages stage has seen so far.
func (l *Ledger) Delivered(stage Stage) int64 { return l.delivered[stage].Load() }

// Unknown is how many observations of stage matched no planned message.
func (l *Ledger) Unknown(stage Stage) int64 { return l.unknown[stage].Load() }

// TakeLiveP99 returns the p99 latency (µs) stage saw since the last call, and resets it.
func (l *Ledger) TakeLiveP99(stage Stage) (p99 int64, n int64) {
	lh := &l.live[stage]
	lh.mu.Lock()
	defer lh.mu.Unlock()
	p99, n = lh.h.ValueAtQuantile(99), lh.h.TotalCount()
	lh.h.Reset()
	return p99, n
}

func clamp(us int64) int64 {
	if us < MinUs {
		return MinUs
	}
	if us > MaxUs {
		return MaxUs
	}
	return us
}

// Settle applies the earliest-evidence rule once recording has stopped: a message
// the store holds was in Kafka no later than the store's write, and a message in
// Kafka passed the broker no later than that. Each tap observes with its own
// delay, so where a later stage saw a message first, that sighting is the earlier
// evidence and becomes the stage's time. It returns, per stage, how many times its
// own tap was beaten or missed the message entirely (reported, so a lagging tap
// is visible rather than silently corrected).
func (l *Ledger) Settle() (tapLate [NumStages]int64) {
	chain := []Stage{Store, Kafka, Broker} // walked from the last stage back
	for dev := range l.logs {
		log := &l.logs[dev]
		for i := range log.obs[Sent] {
			later := int64(0)
			for _, s := range chain {
				at := log.obs[s][i]
				if later != 0 && (at == 0 || later < at) {
					if at == 0 {
						l.delivered[s].Add(1)
					}
					log.obs[s][i] = later
					tapLate[s]++
					at = later
				}
				if at != 0 {
					later = at
				}
			}
		}
	}
	return tapLate
}
