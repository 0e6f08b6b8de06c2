package api

// A minimal in-memory store.Store used until pipeline/store/memory lands.
// TODO(api): replace with memory.New() and delete this file.

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/citybench/citybench/pipeline/store"
)

type stopgapStore struct {
	mu      sync.Mutex
	rows    map[string][]store.Row
	devices map[string]store.Device
}

func newTestStore() store.Store {
	return &stopgapStore{rows: map[string][]store.Row{}, devices: map[string]store.Device{}}
}

func (s *stopgapStore) WriteReadings(_ context.Context, rows []store.Row) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range rows {
		r.WriteTime = time.Now()
		r.Day = r.Time.UTC().Format("2006-01-02")
		rs := s.rows[r.DeviceID]
		i, found := slices.BinarySearchFunc(rs, r, compareRows)
		if found {
			rs[i] = r
		} else {
			rs = slices.Insert(rs, i, r)
		}
		s.rows[r.DeviceID] = rs
	}
	return nil
}

func (s *stopgapStore) UpsertDevices(_ context.Context, devs []store.Device) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range devs {
		if old, ok := s.devices[d.ID]; ok && old.LastSeen.After(d.LastSeen) {
			d.LastSeen = old.LastSeen
		}
		s.devices[d.ID] = d
	}
	return nil
}

func (s *stopgapStore) Devices(context.Context) ([]store.Device, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]store.Device, 0, len(s.devices))
	for _, d := range s.devices {
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b store.Device) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

func (s *stopgapStore) Readings(_ context.Context, q store.Query) ([]store.Row, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.Row
	for _, r := range s.rows[q.DeviceID] {
		if r.Time.Before(q.From) || !r.Time.Before(q.To) {
			continue
		}
		if q.Limit > 0 && len(out) == q.Limit {
			break
		}
		out = append(out, r)
	}
	return out, nil
}

func (s *stopgapStore) Close() error { return nil }
