package downlink

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/citybench/citybench/reports/result"
)

type stage int

const (
	sent stage = iota
	delivered
	acked
	numStages
)

var stageNames = [numStages]string{result.StageCommandSent, result.StageCommandDelivered, result.StageCommandAcked}

// Recorder keeps, per command, when each stage first saw it and how often it saw
// it again. Every method is safe for concurrent use: device handlers, the
// commander's sender and its ack handler all record.
type Recorder struct {
	plan  *Plan
	start func() time.Time // offset 0 of the run
	bySeq map[uint64]int   // command seq → index in plan.Commands

	obs    [numStages][]atomic.Int64 // unix ns of first sighting, 0 = never
	dups   [numStages][]atomic.Int64
	count  [numStages]atomic.Int64 // first sightings, for live progress
	errors atomic.Int64
	// unknown counts sightings that match no planned command (or a command
	// received by another device than its own).
	unknown [numStages]atomic.Int64

	severitySent atomic.Int64
	severitySeen sync.Map // "device/seq" → struct{}
	severityDups atomic.Int64
}

// NewRecorder returns a recorder for plan; start gives the run's offset 0.
func NewRecorder(plan *Plan, start func() time.Time) *Recorder {
	r := &Recorder{plan: plan, start: start, bySeq: make(map[uint64]int, len(plan.Commands))}
	for i, c := range plan.Commands {
		r.bySeq[c.Seq] = i
	}
	for s := range numStages {
		r.obs[s] = make([]atomic.Int64, len(plan.Commands))
		r.dups[s] = make([]atomic.Int64, len(plan.Commands))
	}
	return r
}

// Intended is command i's intended send time (unix ns).
func (r *Recorder) intended(i int) int64 { return r.start().Add(r.plan.Commands[i].At).UnixNano() }

func (r *Recorder) observe(s stage, seq uint64, dev int, at int64) bool {
	i, ok := r.bySeq[seq]
	if !ok || (dev >= 0 && r.plan.Commands[i].Device != dev) {
		r.unknown[s].Add(1)
		return false
	}
	if !r.obs[s][i].CompareAndSwap(0, at) {
		r.dups[s][i].Add(1)
		return false
	}
	r.count[s].Add(1)
	return true
}

func (r *Recorder) sent(i int, at int64) {
	r.obs[sent][i].Store(at)
	r.count[sent].Add(1)
}

// Received records that device dev received command seq at unix ns at; it
// reports whether this was the first time.
func (r *Recorder) Received(dev int, seq uint64, at int64) bool {
	return r.observe(delivered, seq, dev, at)
}

// ackSeen records that the harness saw device dev's acknowledgement of seq.
func (r *Recorder) ackSeen(dev int, seq uint64, at int64) { r.observe(acked, seq, dev, at) }

// SeverityReported counts a severity report a device published on its control topic.
func (r *Recorder) SeverityReported() { r.severitySent.Add(1) }

func (r *Recorder) severitySeenBy(key string) {
	if _, dup := r.severitySeen.LoadOrStore(key, struct{}{}); dup {
		r.severityDups.Add(1)
	}
}

// Error counts a failed command publish or acknowledgement.
func (r *Recorder) Error() { r.errors.Add(1) }

// Progress is the commands' live counts (first sightings so far).
type Progress struct {
	Planned, Sent, Delivered, Acked, Errors int64
}

// Progress reads the live counts.
func (r *Recorder) Progress() Progress {
	return Progress{Planned: int64(len(r.plan.Commands)), Sent: r.count[sent].Load(), Delivered: r.count[delivered].Load(),
		Acked: r.count[acked].Load(), Errors: r.errors.Load()}
}
