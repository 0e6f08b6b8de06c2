// Package ledger is the run's record: what each stage saw of the planned
// messages — first sightings, duplicates, order, times — turned online into
// per-stage histograms, per-second series and delivery accounting. Its memory is
// bounded by devices and by messages in flight, not by the length of the run:
// each device keeps a sequence window per stage and the times of its latest
// messages (the in-flight window, see record.go); older messages are folded into
// histograms and counts as they leave it.
package ledger

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/citybench/citybench/harness/schedule"
	"github.com/citybench/citybench/reports/result"
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

// defaultDeadline is the availability deadline of a ledger not given one (the
// scenarios' default).
const defaultDeadline = 5 * time.Second

// Ledger is safe for concurrent use under one rule: for a given stage, all
// observations of one device come from one goroutine (a device's publisher, the
// broker tap's handler, the Kafka reader of the device's partition). That makes
// per-device order tracking exact; a device's state sits behind its own mutex,
// which the stages of one device share, so the hot path never contends across
// devices.
type Ledger struct {
	plan     *schedule.Plan
	start    atomic.Int64 // unix ns of offset 0
	deadline time.Duration
	logs     []deviceLog
	byID     map[string]int

	delivered [NumStages]atomic.Int64 // first sightings, for live progress
	refused   atomic.Int64            // malformed messages sent: a correct pipeline passes none of them on
	unknown   [NumStages]atomic.Int64 // observations of messages not in the plan
	errors    atomic.Int64
	errorsAt  sync.Map            // second index → *atomic.Int64
	dupsAt    [NumStages]sync.Map // second index → *atomic.Int64: when duplicates arrived
	live      [NumStages]liveHist

	acc [NumStages]stageAcc // what left the in-flight window, in histograms and counts
	// tapLate counts, per stage, sightings the earliest-evidence rule moved
	// earlier or supplied (Settle); beyond counts first sightings of messages
	// that had left the in-flight window, and noService those of them that
	// could get no service time (the send time had gone with the window).
	tapLate, beyond, noService [NumStages]atomic.Int64
	settleOnce                 sync.Once
	traces                     traceSet
}

type liveHist struct {
	mu sync.Mutex
	h  *hdrhistogram.Histogram
}

// Option configures a ledger.
type Option func(*Ledger)

// WithDeadline sets the availability deadline: the latency within which a
// sighting counts as on time (default 5 s).
func WithDeadline(d time.Duration) Option { return func(l *Ledger) { l.deadline = d } }

// WithTraces keeps the traces of up to n messages spread evenly over the plan
// (see Traces).
func WithTraces(n int) Option { return func(l *Ledger) { l.traces.init(l.plan, n) } }

// New allocates a ledger for plan: a few hundred bytes per device until
// messages flow, whatever the plan's length.
func New(plan *schedule.Plan, opts ...Option) *Ledger {
	l := &Ledger{plan: plan, deadline: defaultDeadline, logs: make([]deviceLog, len(plan.Devices)), byID: make(map[string]int, len(plan.Devices))}
	for i, d := range plan.Devices {
		l.byID[d.ID] = i
		l.logs[i].init(d)
	}
	for s := range NumStages {
		l.live[s].h = NewHistogram()
		l.acc[s].init()
	}
	for _, o := range opts {
		o(l)
	}
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
	log := &l.logs[dev]
	log.mu.Lock()
	defer log.mu.Unlock()
	return l.intended(log, seq, log.planAt(seq))
}

// intended is Intended for a message planned at offset planAt; log is locked.
func (l *Ledger) intended(log *deviceLog, seq uint64, planAt time.Duration) int64 {
	if log.burst != nil && seq >= 1 && seq <= uint64(len(log.burst)) && log.burst[seq-1] != 0 {
		return log.burst[seq-1]
	}
	return l.start.Load() + int64(planAt)
}

// SetIntended records when device dev's message seq became due (unix ns): its
// plan time for a device that follows the clock, the moment an in-flight slot
// freed for a burst device. A device calls it just before observing the
// message sent, for a message of its plan; it saves the ledger computing the
// time again from the seed.
func (l *Ledger) SetIntended(dev int, seq uint64, at int64) {
	if dev < 0 || dev >= len(l.logs) || seq == 0 {
		return
	}
	log := &l.logs[dev]
	log.mu.Lock()
	defer log.mu.Unlock()
	if log.burst != nil {
		if seq > uint64(len(log.burst)) {
			return
		}
		log.burst[seq-1] = at
	}
	if rec := l.slot(dev, log, seq); rec != nil && log.burst == nil {
		rec.planAt = time.Duration(at - l.start.Load())
	}
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
	if dev < 0 || dev >= len(l.logs) || seq == 0 {
		l.unknown[stage].Add(1)
		return false
	}
	log := &l.logs[dev]
	log.mu.Lock()
	defer log.mu.Unlock()
	if seq > log.recs.hi() && seq > log.planned() {
		l.unknown[stage].Add(1)
		return false
	}
	if !log.win[stage].observe(seq) {
		countAt(&l.dupsAt[stage], (at-l.start.Load())/int64(time.Second))
		return false
	}
	var intended int64
	switch rec := l.slot(dev, log, seq); {
	case log.claim(stage, seq):
		// A later stage's evidence gave this stage the message, and an earlier
		// time than this sighting: it was counted then (see settle).
		intended = l.intended(log, seq, log.planAt(seq))
	case rec != nil:
		l.delivered[stage].Add(1)
		rec.at[stage] = at
		if rec.planAt < 0 {
			rec.planAt = log.planAt(seq)
		}
		intended = l.intended(log, seq, rec.planAt)
	default:
		l.delivered[stage].Add(1)
		intended = l.late(stage, dev, log, seq, at)
	}
	if stage == Sent && log.dev.MalformedAt(seq) != 0 {
		l.refused.Add(1)
	}
	if stage != Sent {
		lh := &l.live[stage]
		lh.mu.Lock()
		_ = lh.h.RecordValue(clamp((at - intended) / int64(time.Microsecond)))
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

// Planned is how many messages device dev's plan holds (seqs 1..Planned).
func (l *Ledger) Planned(dev int) uint64 {
	log := &l.logs[dev]
	log.mu.Lock()
	defer log.mu.Unlock()
	return log.planned()
}

// Seen reports whether stage has seen device dev's message seq, by its own tap
// or on the evidence of a later stage.
func (l *Ledger) Seen(stage Stage, dev int, seq uint64) bool {
	log := &l.logs[dev]
	log.mu.Lock()
	defer log.mu.Unlock()
	return log.seen(stage, seq)
}

// FirstUnseen is the lowest seq of device dev intended before until that stage
// has not seen; ok is false when stage has seen them all.
func (l *Ledger) FirstUnseen(stage Stage, dev int, until time.Duration) (seq uint64, ok bool) {
	log := &l.logs[dev]
	log.mu.Lock()
	defer log.mu.Unlock()
	return log.firstUnseen(stage, log.before(until))
}

// Missing is how many of device dev's messages intended before until stage has
// not seen.
func (l *Ledger) Missing(stage Stage, dev int, until time.Duration) int {
	log := &l.logs[dev]
	log.mu.Lock()
	defer log.mu.Unlock()
	return log.missing(stage, log.before(until))
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

// BeyondWindow is how many first sightings of stage came after their message
// had left the in-flight window, and how many of those got no service time.
func (l *Ledger) BeyondWindow(stage Stage) (sightings, withoutServiceTime int64) {
	return l.beyond[stage].Load(), l.noService[stage].Load()
}

// TakeLive returns the latency quantiles stage saw since the last call, and
// resets them: the run's per-second live view. The sent stage records none
// (its lag is kept off the publish path).
func (l *Ledger) TakeLive(stage Stage) result.Quantiles {
	lh := &l.live[stage]
	lh.mu.Lock()
	defer lh.mu.Unlock()
	q := Quantiles(lh.h)
	lh.h.Reset()
	return q
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

// Settle folds every message still in a device's in-flight window into the
// histograms and counts, applying the earliest-evidence rule (see settle), and
// returns, per stage, how many times its own tap was beaten or missed the
// message entirely — over the whole run (reported, so a lagging tap is visible
// rather than silently corrected). Call it once recording has stopped; later
// calls only return the counts.
func (l *Ledger) Settle() (tapLate [NumStages]int64) {
	l.settleOnce.Do(func() {
		for dev := range l.logs {
			log := &l.logs[dev]
			log.mu.Lock()
			for log.recs.n > 0 {
				l.retire(dev, log)
			}
			log.mu.Unlock()
		}
	})
	for s := range NumStages {
		tapLate[s] = l.tapLate[s].Load()
	}
	return tapLate
}
