// Package taps observe the pipeline from outside at each stage — a broker
// subscriber, a Kafka reader, a store read-back and an API poller — and record
// when each planned message appears there. Every tap has one shape (Tap): the
// run loop starts them, stops them when the pipeline has drained, and folds their
// reports into the result. A tap's own trouble (a dead connection, failing
// reads) is reported as its outage or as unverified messages, never as the
// pipeline's loss.
package taps

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/citybench/citybench/harness/ledger"
	"github.com/citybench/citybench/harness/schedule"
	"github.com/citybench/citybench/reports/result"
)

// Recorder is all a tap may do with the run's record: say that its stage saw a
// message, and read the small progress view it needs to know when it has caught
// up. Taps depend on nothing else of the ledger, so a different recorder (a
// bounded one) can replace it without touching a tap.
type Recorder interface {
	// Observe records that stage saw device dev's message seq at unix ns at, and
	// reports whether it was the first sighting. Pairs outside the plan are counted
	// as unknown.
	Observe(stage ledger.Stage, dev int, seq uint64, at int64) bool
	// AddBytes adds the size of a message of device dev that stage saw for the first time (the
	// store read-back: the stored row's column values).
	AddBytes(stage ledger.Stage, dev, n int)
	Progress
}

// Progress is the read side a tap and the drain need. Seen, FirstUnseen and
// Missing are only safe from the goroutine that records stage for dev, or after
// that stage stopped recording.
type Progress interface {
	// Start is the wall-clock time of the run's offset 0; the zero time until the
	// run's time line is fixed (taps start before it is).
	Start() time.Time
	// Intended is device dev's message seq's intended send time (unix ns): the
	// plan's, or for a burst device the moment its in-flight slot freed.
	Intended(dev int, seq uint64) int64
	// Delivered is how many distinct messages stage has seen so far.
	Delivered(stage ledger.Stage) int64
	// Forwardable is how many messages sent so far a correct pipeline passes on
	// past the broker: all but the deliberately malformed ones.
	Forwardable() int64
	Seen(stage ledger.Stage, dev int, seq uint64) bool
	// FirstUnseen is the lowest seq of dev intended before until that stage has
	// not seen; ok is false when it has seen them all.
	FirstUnseen(stage ledger.Stage, dev int, until time.Duration) (seq uint64, ok bool)
	// Missing is how many of dev's messages intended before until stage has not seen.
	Missing(stage ledger.Stage, dev int, until time.Duration) int
}

// Env is what every tap is started with: the plan (device ids, fleets, topics and
// intended times) and where to record.
type Env struct {
	Plan *schedule.Plan
	Rec  Recorder
}

// Tap observes one stage of the pipeline.
type Tap interface {
	// Stage is the stage the tap records.
	Stage() ledger.Stage
	// Start connects and begins observing; it fails fast when the stage cannot be
	// reached at all (a misconfigured endpoint), before any load is sent.
	Start(ctx context.Context, env Env) error
	// Stop waits, until ctx ends, for the tap to have seen what the pipeline
	// passed on of the messages intended before until, then stops observing and
	// reports. It never fails: what went wrong is in the report.
	Stop(ctx context.Context, until time.Duration) Report
}

// Follower is implemented by a tap that can only finish after another stage's
// tap has: the API poller has caught up when it has shown what the store
// read-back found.
type Follower interface {
	Follows() ledger.Stage
}

// Report is what a tap says about itself after it stopped.
type Report struct {
	Stage   ledger.Stage
	Outages []result.TapOutage
	// Unverified says whether an unseen message of device dev, intended at offset
	// at, is one the tap could not check (nil: the tap checked everything).
	Unverified func(dev int, at time.Duration) bool
	Warnings   []string
	Counters   map[string]int64
}

// outages records one tap's unavailable spans, keyed by what was unavailable (a
// partition, a connection), on the run's time line.
type outages struct {
	stage   ledger.Stage
	tap     string // the tap's name in spans and warnings: its stage's, unless a second tap reads that stage
	origin  func() time.Time
	anyOpen atomic.Bool // len(open) > 0, for the hot path of taps that call up per message
	mu      sync.Mutex
	open    map[string]*result.TapOutage
	closed  []result.TapOutage
}

func newOutages(stage ledger.Stage, origin func() time.Time) *outages {
	return &outages{stage: stage, tap: stage.String(), origin: origin, open: map[string]*result.TapOutage{}}
}

// offset is now on the run's time line (0 before the time line is fixed).
func (o *outages) offset() float64 {
	origin := o.origin()
	if origin.IsZero() {
		return 0
	}
	return time.Since(origin).Seconds()
}

// down opens a span for key unless one is open already (the first reason names it).
func (o *outages) down(key, reason string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, ok := o.open[key]; !ok {
		o.open[key] = &result.TapOutage{Tap: o.tap, FromS: o.offset(), Reason: reason}
		o.anyOpen.Store(true)
	}
}

// up closes key's span, if open.
func (o *outages) up(key string) {
	if !o.anyOpen.Load() {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if sp, ok := o.open[key]; ok {
		sp.ToS = o.offset()
		o.closed = append(o.closed, *sp)
		delete(o.open, key)
		o.anyOpen.Store(len(o.open) > 0)
	}
}

// isDown reports whether any span is open.
func (o *outages) isDown() bool { return o.anyOpen.Load() }

// spans returns every span, those still open ending now and marked Open, in time order.
func (o *outages) spans() []result.TapOutage {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := append([]result.TapOutage(nil), o.closed...)
	now := o.offset()
	for _, sp := range o.open {
		s := *sp
		s.ToS, s.Open = now, true
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].FromS < out[j].FromS })
	return out
}

// retryPolicy is how every tap backs off between attempts to reach its stage
// again: quickly at first (a leader moves in well under a second), never slower
// than every 2 s, and never giving up on its own — the caller's context decides.
func retryPolicy() *backoff.ExponentialBackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 100 * time.Millisecond
	b.MaxInterval = 2 * time.Second
	b.MaxElapsedTime = 0
	b.Reset()
	return b
}

// sleep waits d or until ctx ends; it reports whether the wait was complete.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// waitFor checks done every 50 ms until it holds or ctx ends.
func waitFor(ctx context.Context, done func() bool) bool {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for !done() {
		select {
		case <-ctx.Done():
			return done()
		case <-t.C:
		}
	}
	return true
}
