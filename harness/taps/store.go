package taps

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/citybench/citybench/harness/ledger"
	"github.com/citybench/citybench/pipeline/store"
)

// Store reads every device's rows back from the store after the load and records
// the store stage at each row's write time — the ground truth of what the sink
// stored, not what it says it stored. It reads again, with backoff, for devices
// still missing rows or whose read failed, until all are found or the drain
// deadline passes. A device whose last read failed is unverified, not lost: the
// read-back could not look. Rows that match no planned message (another run's, a
// wrong sample time) are counted as unknown.
type Store struct {
	st   store.Store
	poll time.Duration
	env  Env
}

// storeReadParallelism bounds concurrent device reads, to load the store no more
// than a handful of dashboard users would.
const storeReadParallelism = 16

// storePage is how many rows one read-back query asks for.
const storePage = 5000

// NewStore returns the read-back tap; poll is the pause between passes while
// rows are still missing.
func NewStore(st store.Store, poll time.Duration) *Store { return &Store{st: st, poll: poll} }

// Stage is the store stage.
func (s *Store) Stage() ledger.Stage { return ledger.Store }

// Start only keeps env: the store is read after the load.
func (s *Store) Start(_ context.Context, env Env) error {
	s.env = env
	return nil
}

// deviceState is what the read-back knows of one device between passes.
type deviceState struct {
	read    bool  // a read of the device succeeded at least once (unknown rows are counted once)
	lastErr error // the latest read's error, nil when it succeeded
}

// Stop reads back until every planned message intended before until is found or ctx ends.
func (s *Store) Stop(ctx context.Context, until time.Duration) Report {
	out := newOutages(ledger.Store, s.env.Rec.Start)
	states := make([]deviceState, len(s.env.Plan.Devices))
	pending := make([]int, len(s.env.Plan.Devices))
	for i := range pending {
		pending[i] = i
	}
	retry := retryPolicy()
	for {
		pending = s.pass(ctx, pending, states, until, out)
		if len(pending) == 0 || ctx.Err() != nil {
			break
		}
		wait := s.poll
		if out.isDown() {
			wait = max(wait, retry.NextBackOff())
		} else {
			retry.Reset()
		}
		if !sleep(ctx, wait) {
			break
		}
	}
	return s.report(pending, states, until, out)
}

// pass reads every pending device once and returns those still missing rows or failing.
func (s *Store) pass(ctx context.Context, pending []int, states []deviceState, until time.Duration, out *outages) []int {
	var mu sync.Mutex
	var still []int
	var firstErr error
	sem := make(chan struct{}, storeReadParallelism)
	var wg sync.WaitGroup
	for _, dev := range pending {
		if ctx.Err() != nil {
			still = append(still, dev) // not read in this pass: the previous state stands
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			err := s.readDevice(ctx, dev, &states[dev], until)
			if err != nil && ctx.Err() != nil {
				err = nil // cut short by the deadline, not a failed read
			}
			if err != nil {
				states[dev].lastErr = err
			} else if ctx.Err() == nil {
				states[dev].lastErr = nil
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			if states[dev].lastErr != nil || s.env.Rec.Missing(ledger.Store, dev, until) > 0 {
				still = append(still, dev)
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		out.down("read", firstErr.Error())
	} else if ctx.Err() == nil {
		out.up("read")
	}
	return still
}

func (s *Store) report(pending []int, states []deviceState, until time.Duration, out *outages) Report {
	rep := Report{Stage: ledger.Store, Outages: out.spans()}
	unverified := map[int]bool{}
	missing, unread := 0, 0
	for _, dev := range pending {
		n := s.env.Rec.Missing(ledger.Store, dev, until)
		if st := states[dev]; st.lastErr != nil || !st.read {
			unverified[dev] = true
			unread += n
			continue
		}
		missing += n
	}
	if len(unverified) > 0 {
		rep.Unverified = func(dev int, _ time.Duration) bool { return unverified[dev] }
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("store read-back: %d devices could not be read before the drain deadline; their %d unseen messages are unverified, not lost", len(unverified), unread))
	}
	if missing > 0 {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("%d messages were not in the store when the drain deadline passed", missing))
	}
	return rep
}

// readDevice records the device's stored rows from its first unseen message on.
func (s *Store) readDevice(ctx context.Context, dev int, st *deviceState, until time.Duration) error {
	d := s.env.Plan.Devices[dev]
	start := s.env.Rec.Start()
	from := start.Add(-time.Second)
	countUnknown := !st.read
	if first, ok := s.env.Rec.FirstUnseen(ledger.Store, dev, until); !ok {
		return nil
	} else if st.read {
		// Everything before the first unseen message is recorded: read on from
		// there (at the store's millisecond grain) instead of all over again.
		from = time.UnixMilli(time.Unix(0, s.env.Rec.Intended(dev, first)).UnixMilli())
	}
	to := start.Add(until + time.Second)
	for {
		rows, err := s.st.Readings(ctx, store.Query{DeviceID: d.ID, From: from, To: to, Limit: storePage})
		if err != nil {
			return fmt.Errorf("read back %s: %w", d.ID, err)
		}
		for _, r := range rows {
			s.record(dev, r, countUnknown)
		}
		if len(rows) < storePage {
			break
		}
		// Page on: several rows can share a time (one per metric), so restart at
		// the last time and let Seen skip what was recorded.
		next := rows[len(rows)-1].Time
		if !next.After(from) {
			break
		}
		from = next
	}
	st.read = true
	return nil
}

func (s *Store) record(dev int, r store.Row, countUnknown bool) {
	// Stores keep time at millisecond precision (CQL timestamp): compare at that
	// grain, with the intended time a burst device's message got at run time.
	if r.Seq == 0 || r.Seq > s.env.Rec.Planned(dev) || r.Time.UnixMilli() != time.Unix(0, s.env.Rec.Intended(dev, r.Seq)).UnixMilli() {
		if countUnknown {
			s.env.Rec.Observe(ledger.Store, -1, 0, 0) // counted as unknown
		}
		return
	}
	if !s.env.Rec.Seen(ledger.Store, dev, r.Seq) && s.env.Rec.Observe(ledger.Store, dev, r.Seq, r.WriteTime.UnixNano()) {
		s.env.Rec.AddBytes(ledger.Store, dev, r.ValueBytes())
	}
}
