// Package memory is an in-process store.Store with Cassandra's semantics (keys,
// overwrite, write times, ordering, limits, a table's default time to live), for
// the embedded pipeline and tests. It can also be told to stall, to exercise
// back-pressure and coordinated omission.
package memory

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/citybench/citybench/pipeline/store"
)

type partitionKey struct {
	device, day string
}

type clusterKey struct {
	ms  int64
	seq uint64
}

// metric is one stored metric. A row keeps a slice of them, not a map, and the
// names are interned: the store holds millions of readings, and their size and
// pointer count are what a full store costs the process in memory and GC.
type metric struct {
	name  string
	value float64
}

// cell is one stored row; its key and partition give the rest.
type cell struct {
	wt      int64 // write time, µs since the epoch
	metrics []metric
}

// partition is one (device, day) partition's rows.
type partition struct {
	key  partitionKey
	rows map[clusterKey]cell
}

// written is one row's write, in write order, for expiry.
type written struct {
	part *partition
	ck   clusterKey
	wt   int64
}

// Store keeps rows per partition in a map; Readings sorts the partition's keys on
// read, which is cheap at the partition sizes a day of one device produces.
type Store struct {
	mu         sync.RWMutex
	partitions map[partitionKey]*partition
	names      map[string]string // interned metric names
	devices    map[string]store.Device
	rows       int
	closed     bool

	// ttl > 0: every row expires ttl after its write time. writes holds the
	// rows' writes in write order from head on, so Expire touches only what it
	// removes; expired counts the rows it removed.
	ttl     time.Duration
	writes  []written
	head    int
	expired int64
	now     func() time.Time

	stallMu    sync.Mutex
	stallUntil time.Time
}

// Option configures New.
type Option func(*Store)

// WithTTL makes every reading expire ttl after its write time, as a Cassandra
// table's default_time_to_live does: Readings no longer returns it, and Expire
// removes it. Writing a key again restarts its ttl. Devices never expire.
func WithTTL(ttl time.Duration) Option { return func(s *Store) { s.ttl = max(ttl, 0) } }

// New returns an empty store.
func New(opts ...Option) *Store {
	s := &Store{
		partitions: map[partitionKey]*partition{},
		names:      map[string]string{},
		devices:    map[string]store.Device{},
		now:        time.Now,
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

var (
	_ store.Store       = (*Store)(nil)
	_ store.Footprinter = (*Store)(nil)
)

// Stall makes writes that start within the next d wait until the stall ends (or
// their context is done), as a store in a long GC pause or compaction would. A
// new Stall extends a running one; it never shortens it.
func (s *Store) Stall(d time.Duration) {
	if d <= 0 {
		return
	}
	until := time.Now().Add(d)
	s.stallMu.Lock()
	defer s.stallMu.Unlock()
	if until.After(s.stallUntil) {
		s.stallUntil = until
	}
}

// waitStall blocks while a stall is running. Each writer waits on its own timer,
// so no goroutine outlives the stall.
func (s *Store) waitStall(ctx context.Context) error {
	for {
		s.stallMu.Lock()
		left := time.Until(s.stallUntil)
		s.stallMu.Unlock()
		if left <= 0 {
			return nil
		}
		t := time.NewTimer(left)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("write stalled: %w", ctx.Err())
		}
	}
}

// WriteReadings validates every row first, so a batch is either stored whole or
// not at all, then stamps them with one write time.
func (s *Store) WriteReadings(ctx context.Context, rows []store.Row) error {
	if err := s.waitStall(ctx); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("write readings: %w", err)
	}
	norm := make([]store.Row, len(rows))
	for i, r := range rows {
		n, err := store.Normalize(r)
		if err != nil {
			return fmt.Errorf("write readings: %w", err)
		}
		norm[i] = n
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return store.ErrClosed
	}
	wt := s.now().UnixMicro()
	for _, r := range norm {
		pk := partitionKey{r.DeviceID, r.Day}
		part := s.partitions[pk]
		if part == nil {
			part = &partition{key: pk, rows: map[clusterKey]cell{}}
			s.partitions[pk] = part
		}
		ck := clusterKey{r.Time.UnixMilli(), r.Seq}
		if _, ok := part.rows[ck]; !ok {
			s.rows++
		}
		part.rows[ck] = cell{wt: wt, metrics: s.metrics(r.Metrics)}
		if s.ttl > 0 {
			s.writes = append(s.writes, written{part: part, ck: ck, wt: wt})
		}
	}
	return nil
}

// metrics copies m into a slice sorted by name, with interned names.
func (s *Store) metrics(m map[string]float64) []metric {
	out := make([]metric, 0, len(m))
	for name, v := range m {
		in, ok := s.names[name]
		if !ok {
			in = strings.Clone(name)
			s.names[in] = in
		}
		out = append(out, metric{in, v})
	}
	slices.SortFunc(out, func(a, b metric) int { return cmp.Compare(a.name, b.name) })
	return out
}

// row is a stored cell as the store's callers see it.
func (p *partition) row(ck clusterKey, c cell) store.Row {
	m := make(map[string]float64, len(c.metrics))
	for _, x := range c.metrics {
		m[x.name] = x.value
	}
	return store.Row{DeviceID: p.key.device, Day: p.key.day, Time: time.UnixMilli(ck.ms).UTC(), Seq: ck.seq,
		Metrics: m, WriteTime: time.UnixMicro(c.wt)}
}

// Expire removes the readings whose time to live has run out by now and returns
// how many it removed (a Cassandra compaction purging expired cells). Without a
// ttl it does nothing.
func (s *Store) Expire(now time.Time) int {
	if s.ttl <= 0 {
		return 0
	}
	nowUs := now.UnixMicro()
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for ; s.head < len(s.writes) && !s.liveAt(s.writes[s.head].wt, nowUs); s.head++ {
		w := s.writes[s.head]
		// A key written again later has a newer write: that one expires it.
		if c, ok := w.part.rows[w.ck]; ok && c.wt == w.wt {
			delete(w.part.rows, w.ck)
			s.rows--
			n++
			if len(w.part.rows) == 0 {
				delete(s.partitions, w.part.key)
			}
		}
	}
	if s.head > len(s.writes)/2 {
		// Copy the rest so the expired prefix's memory is released.
		s.writes, s.head = append([]written(nil), s.writes[s.head:]...), 0
	}
	s.expired += int64(n)
	return n
}

// Expired is how many readings Expire has removed since the store started.
func (s *Store) Expired() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.expired
}

// liveAt reports whether a row written at wt (µs) has not outlived its time to
// live at nowUs: the one rule both Readings and Expire apply.
func (s *Store) liveAt(wt, nowUs int64) bool {
	return s.ttl <= 0 || wt > nowUs-s.ttl.Microseconds()
}

// UpsertDevices applies last-seen-wins per device.
func (s *Store) UpsertDevices(ctx context.Context, devices []store.Device) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("upsert devices: %w", err)
	}
	now := time.Now()
	norm := make([]store.Device, len(devices))
	for i, d := range devices {
		n, err := store.NormalizeDevice(d, now)
		if err != nil {
			return fmt.Errorf("upsert devices: %w", err)
		}
		n.Location = maps.Clone(n.Location)
		norm[i] = n
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return store.ErrClosed
	}
	for _, d := range norm {
		if old, ok := s.devices[d.ID]; ok && d.LastSeen.Before(old.LastSeen) {
			continue
		}
		s.devices[d.ID] = d
	}
	return nil
}

// Devices returns every device, sorted by id.
func (s *Store) Devices(ctx context.Context) ([]store.Device, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("devices: %w", err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, store.ErrClosed
	}
	out := make([]store.Device, 0, len(s.devices))
	for _, d := range s.devices {
		d.Location = maps.Clone(d.Location)
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b store.Device) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// Readings walks the query's day partitions in order, as the Cassandra store does.
func (s *Store) Readings(ctx context.Context, q store.Query) ([]store.Row, error) {
	limit, err := store.CheckQuery(q)
	if err != nil {
		return nil, fmt.Errorf("readings: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("readings: %w", err)
	}
	from, to := q.From.UnixMilli(), q.To.UnixMilli()
	nowUs := s.now().UnixMicro()
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, store.ErrClosed
	}
	var out []store.Row
	for _, day := range store.Days(q.From, q.To) {
		part := s.partitions[partitionKey{q.DeviceID, day}]
		if part == nil {
			continue
		}
		keys := make([]clusterKey, 0, len(part.rows))
		for k, c := range part.rows {
			if k.ms >= from && k.ms < to && s.liveAt(c.wt, nowUs) {
				keys = append(keys, k)
			}
		}
		slices.SortFunc(keys, func(a, b clusterKey) int {
			return cmp.Or(cmp.Compare(a.ms, b.ms), cmp.Compare(a.seq, b.seq))
		})
		for _, k := range keys {
			if len(out) == limit {
				return out, nil
			}
			out = append(out, part.row(k, part.rows[k]))
		}
	}
	return out, nil
}

// Count returns how many distinct rows are stored (expired ones included until
// Expire removes them).
func (s *Store) Count() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.rows
}

// Footprint estimates what the store holds from its rows' field bytes: memory
// has no files to measure, so the figure is labelled an estimate.
func (s *Store) Footprint(context.Context) (store.Footprint, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var b int64
	for _, part := range s.partitions {
		key := store.RawKeyBytes(part.key.device, part.key.day)
		for _, c := range part.rows {
			b += key
			for _, m := range c.metrics {
				b += store.RawMetricBytes(m.name)
			}
		}
	}
	return store.Footprint{Rows: int64(s.rows), Bytes: b, Replication: 1, Estimate: true,
		Method: "estimate: the rows' raw field bytes in the memory store (no storage-engine overhead, compression or indexes)"}, nil
}

// Close makes every later call fail with store.ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}
