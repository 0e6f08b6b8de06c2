package taps

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/citybench/citybench/harness/ledger"
	"github.com/citybench/citybench/pipeline/store"
)

// ReadBack reads every device's rows from the store and records the store stage
// at each row's write time — the ground truth of what the sink stored, not what
// it says it stored. It repeats for devices still missing rows until all are
// found or ctx ends, and returns how many planned messages are still missing.
// Rows that match no planned message (another run's, a wrong sample time) are
// counted by the ledger as unknown.
func ReadBack(ctx context.Context, st store.Store, l *ledger.Ledger, until time.Duration, poll time.Duration) (missing int, err error) {
	plan := l.Plan()
	start := l.Start()
	pending := make([]int, 0, len(plan.Devices))
	for _, d := range plan.Devices {
		pending = append(pending, d.Index)
	}
	for {
		var still []int
		var mu sync.Mutex // guards still and err
		sem := make(chan struct{}, 16)
		var wg sync.WaitGroup
		for _, dev := range pending {
			sem <- struct{}{}
			wg.Add(1)
			go func(dev int) {
				defer wg.Done()
				defer func() { <-sem }()
				n, rerr := readDevice(ctx, st, l, dev, start, until)
				if n > 0 || rerr != nil {
					mu.Lock()
					still = append(still, dev)
					if err == nil {
						err = rerr
					}
					mu.Unlock()
				}
			}(dev)
		}
		wg.Wait()
		pending = still
		missing = 0
		for _, dev := range pending {
			missing += countMissing(l, dev, until)
		}
		if missing == 0 {
			return 0, nil
		}
		select {
		case <-ctx.Done():
			return missing, err // the last pass's first read error, if any
		case <-time.After(poll):
		}
		err = nil
	}
}

func countMissing(l *ledger.Ledger, dev int, until time.Duration) int {
	n := 0
	for _, m := range l.Plan().Devices[dev].Messages {
		if m.At >= until {
			break
		}
		if !l.Seen(ledger.Store, dev, m.Seq) {
			n++
		}
	}
	return n
}

// readDevice records the device's stored rows and returns how many planned rows
// are still missing.
func readDevice(ctx context.Context, st store.Store, l *ledger.Ledger, dev int, start time.Time, until time.Duration) (int, error) {
	d := l.Plan().Devices[dev]
	const page = 5000
	from := start.Add(-time.Second)
	to := start.Add(until + time.Second)
	for {
		rows, err := st.Readings(ctx, store.Query{DeviceID: d.ID, From: from, To: to, Limit: page})
		if err != nil {
			return 0, fmt.Errorf("read back %s: %w", d.ID, err)
		}
		for _, r := range rows {
			if r.Seq == 0 || r.Seq > uint64(len(d.Messages)) {
				l.Observe(ledger.Store, -1, 0, 0) // counted as unknown
				continue
			}
			// Stores keep time at millisecond precision (CQL timestamp): compare at that grain.
			if r.Time.UnixMilli() != time.Unix(0, l.Intended(dev, r.Seq)).UnixMilli() {
				l.Observe(ledger.Store, -1, 0, 0)
				continue
			}
			if !l.Seen(ledger.Store, dev, r.Seq) && l.Observe(ledger.Store, dev, r.Seq, r.WriteTime.UnixNano()) {
				l.AddBytes(ledger.Store, r.ValueBytes())
			}
		}
		if len(rows) < page {
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
	return countMissing(l, dev, until), nil
}
