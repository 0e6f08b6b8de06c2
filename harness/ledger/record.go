package ledger

import (
	"sync"
	"time"

	"github.com/citybench/citybench/harness/schedule"
)

// inFlightWindow is how many of a device's latest messages keep their times per
// stage (56 B each) until they leave the window. Messages leave it oldest first
// when a newer one needs the room, or when the run settles. While a message is
// in the window every figure about it is exact as of the whole run: latency,
// service time, the earliest-evidence rule across stages. A first sighting of a
// message that has left it (a straggler, or the store read-back after a run in
// which each device sent more than this) is still counted exactly —
// delivered, duplicate, reordered, lost, its latency from the intended time
// recomputed from the seed — but it has no service time (the send time left with
// the window; counted and warned about) and the earliest-evidence rule can only
// supply stages that never saw the message, not move an earlier stage's time.
const inFlightWindow = 256

// firstRecords is the in-flight window a device starts with; it doubles up to
// inFlightWindow as messages stay in flight.
const firstRecords = 4

// record is one in-flight message: its planned offset and when each stage first saw it.
type record struct {
	planAt time.Duration // offset in the plan; -1 until known
	at     [NumStages]int64
}

func (r *record) empty() bool { return r.at == [NumStages]int64{} }

// ring holds the records of seqs lo .. lo+n-1.
type ring struct {
	buf     []record
	head, n int
	lo      uint64
}

// hi is the highest seq with a record (lo-1 when none).
func (r *ring) hi() uint64 { return r.lo + uint64(r.n) - 1 }

func (r *ring) at(seq uint64) *record { return &r.buf[(r.head+int(seq-r.lo))%len(r.buf)] }

// grow doubles the ring's room, up to inFlightWindow; false when it is full.
func (r *ring) grow() bool {
	if len(r.buf) >= inFlightWindow {
		return false
	}
	next := make([]record, min(max(2*len(r.buf), firstRecords), inFlightWindow))
	for i := range r.n {
		next[i] = r.buf[(r.head+i)%len(r.buf)]
	}
	r.buf, r.head = next, 0
	return true
}

// deviceLog is one device's part of the ledger.
type deviceLog struct {
	mu   sync.Mutex // the stages of one device share it; bytes and sized are outside it
	dev  *schedule.Device
	recs ring
	win  [NumStages]seqWindow
	// burst holds the run-time intended times (unix ns, 0 = not yet due) of a
	// closed-loop burst device, whose messages become due when an in-flight slot
	// frees; nil for devices that follow the plan's clock. A burst is bounded by
	// its count, not by time, and these times exist nowhere else.
	burst []int64
	// supplied holds, per stage, the seqs the earliest-evidence rule gave the
	// stage although its own tap had not seen them (yet): they count as seen,
	// and a later sighting by the tap counts for order, not again for delivery.
	supplied [NumStages]map[uint64]struct{}
	look     *walker // plan times of messages outside the window
	bound    *walker // how many messages are intended before an offset
	count    uint64  // planned messages, once counted
	counted  bool
	// bytes and sized sum the payload (sent) or stored value (store) bytes of
	// first sightings and how many messages they cover: written only by the
	// goroutine that observes the stage, outside the device's mutex.
	bytes, sized [NumStages]int64
}

func (log *deviceLog) init(d *schedule.Device) {
	log.dev = d
	log.recs.lo = 1
	for s := range NumStages {
		log.win[s].base = 1
	}
	if d.Fleet.Arrival.Burst() {
		log.burst = make([]int64, d.Fleet.Arrival.Count)
	}
}

// supply records that the earliest-evidence rule gave stage s message seq.
func (log *deviceLog) supply(s Stage, seq uint64) {
	if log.supplied[s] == nil {
		log.supplied[s] = map[uint64]struct{}{}
	}
	log.supplied[s][seq] = struct{}{}
}

// seen reports whether stage s saw seq or was given it by evidence.
func (log *deviceLog) seen(s Stage, seq uint64) bool {
	if log.win[s].has(seq) {
		return true
	}
	_, ok := log.supplied[s][seq]
	return ok
}

// claim reports whether seq, just seen for the first time by stage s's own
// tap, had been supplied by evidence already — and forgets it there.
func (log *deviceLog) claim(s Stage, seq uint64) bool {
	if _, ok := log.supplied[s][seq]; !ok {
		return false
	}
	delete(log.supplied[s], seq)
	return true
}

// planned is how many messages the device's plan holds.
func (log *deviceLog) planned() uint64 {
	if !log.counted {
		log.count, log.counted = uint64(log.dev.Count()), true
	}
	return log.count
}

// walker walks a device's plan forward, starting again when asked about an
// earlier message: the readers of one device (a tap catching up, the drain)
// mostly ask in increasing order, so a walk costs once per message.
type walker struct {
	c    *schedule.Cursor
	m    schedule.Message
	ok   bool
	n    uint64        // messages passed (bound)
	upTo time.Duration // the last offset asked about (bound)
}

func newWalker(d *schedule.Device) *walker {
	w := &walker{c: d.Cursor()}
	w.m, w.ok = w.c.Next()
	return w
}

// planAt is the planned offset of the device's message seq (log locked).
func (log *deviceLog) planAt(seq uint64) time.Duration {
	if seq >= log.recs.lo && seq <= log.recs.hi() {
		if r := log.recs.at(seq); r.planAt >= 0 {
			return r.planAt
		}
	}
	if log.look == nil || !log.look.ok || log.look.m.Seq > seq {
		log.look = newWalker(log.dev)
	}
	w := log.look
	for w.ok && w.m.Seq < seq {
		w.m, w.ok = w.c.Next()
	}
	if !w.ok {
		return 0
	}
	return w.m.At
}

// before is how many of the device's messages are intended before until: seqs
// 1..n, as a device sends in intended-time order (log locked).
func (log *deviceLog) before(until time.Duration) uint64 {
	if log.bound == nil || until < log.bound.upTo {
		log.bound = newWalker(log.dev)
	}
	w := log.bound
	w.upTo = until
	for w.ok && w.m.At < until {
		w.n++
		w.m, w.ok = w.c.Next()
	}
	return w.n
}

// slot is the in-flight record of device dev's message seq, making room for it
// (older messages leave the window); nil when seq has left the window already.
func (l *Ledger) slot(dev int, log *deviceLog, seq uint64) *record {
	r := &log.recs
	if r.n == 0 && seq > r.lo {
		r.lo = seq // nothing in flight: the window starts here
	}
	if seq < r.lo {
		return nil
	}
	for seq > r.hi() {
		if r.n == len(r.buf) && !r.grow() {
			l.retire(dev, log)
			if r.n == 0 && seq > r.lo {
				r.lo = seq
			}
			continue
		}
		*r.at(r.lo + uint64(r.n)) = record{planAt: -1}
		r.n++
	}
	return r.at(seq)
}

// retire folds the oldest in-flight record of the device into the figures.
func (l *Ledger) retire(dev int, log *deviceLog) {
	r := &log.recs
	rec := *r.at(r.lo)
	seq := r.lo
	r.head = (r.head + 1) % len(r.buf)
	r.lo++
	r.n--
	if rec.empty() {
		return
	}
	if rec.planAt < 0 {
		rec.planAt = log.planAt(seq)
	}
	l.settle(log, seq, &rec)
	intended := l.intended(log, seq, rec.planAt)
	for s := range NumStages {
		if at := rec.at[s]; at != 0 && !log.refusedSeq(s, seq) {
			l.acc[s].add(l, s, rec.planAt, intended, at, rec.at[Sent])
		}
	}
	l.traces.capture(dev, seq, intended, rec.at)
}

// settleChain is walked from the last stage back by the earliest-evidence rule.
var settleChain = []Stage{Store, Kafka, Broker}

// settle applies the earliest-evidence rule to one message: a message the store
// holds was in Kafka no later than the store's write, and a message in Kafka
// passed the broker no later than that. Each tap observes with its own delay, so
// where a later stage saw a message first, that sighting is the earlier evidence
// and becomes the stage's time.
func (l *Ledger) settle(log *deviceLog, seq uint64, rec *record) {
	later := int64(0)
	for _, s := range settleChain {
		at := rec.at[s]
		if later != 0 && (at == 0 || later < at) {
			if at == 0 {
				log.supply(s, seq)
				l.delivered[s].Add(1)
			}
			rec.at[s] = later
			l.tapLate[s].Add(1)
			at = later
		}
		if at != 0 {
			later = at
		}
	}
}

// late records the first sighting of a message that has left the in-flight
// window and returns its intended time: its figures go straight into the
// histograms and counts, without a service time, and the earlier stages of the
// settle chain that never saw it get this sighting as their evidence.
func (l *Ledger) late(stage Stage, dev int, log *deviceLog, seq uint64, at int64) int64 {
	planAt := log.planAt(seq)
	intended := l.intended(log, seq, planAt)
	l.beyond[stage].Add(1)
	for i, s := range settleChain {
		if s != stage {
			continue
		}
		for _, earlier := range settleChain[i+1:] {
			if log.seen(earlier, seq) {
				break
			}
			log.supply(earlier, seq)
			l.delivered[earlier].Add(1)
			l.tapLate[earlier].Add(1)
			l.noService[earlier].Add(1)
			if !log.refusedSeq(earlier, seq) {
				l.acc[earlier].add(l, earlier, planAt, intended, at, 0)
			}
			l.traces.update(dev, seq, earlier, at)
		}
	}
	if stage != Sent {
		l.noService[stage].Add(1)
	}
	if !log.refusedSeq(stage, seq) {
		l.acc[stage].add(l, stage, planAt, intended, at, 0)
	}
	l.traces.update(dev, seq, stage, at)
	return intended
}
