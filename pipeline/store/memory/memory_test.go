package memory

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/citybench/citybench/pipeline/store"
	"github.com/citybench/citybench/pipeline/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(*testing.T) store.Store { return New() })
}

func row(seq uint64, at time.Time) store.Row {
	return store.Row{DeviceID: "d", Time: at, Seq: seq, Metrics: map[string]float64{"t": 1}}
}

func TestCountDistinctRows(t *testing.T) {
	s := New()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	batches := [][]store.Row{
		{row(1, at), row(2, at)},
		{row(1, at)},                        // rewrite
		{row(1, at.Add(time.Microsecond))},  // same millisecond: same key
		{row(1, at.Add(time.Millisecond))},  // new key
		{row(3, at.Add(-time.Millisecond))}, // previous day
	}
	want := []int{2, 2, 2, 3, 4}
	for i, b := range batches {
		if err := s.WriteReadings(context.Background(), b); err != nil {
			t.Fatal(err)
		}
		if got := s.Count(); got != want[i] {
			t.Errorf("after batch %d: Count = %d, want %d", i, got, want[i])
		}
	}
}

func TestStall(t *testing.T) {
	tests := []struct {
		name     string
		stall    time.Duration
		timeout  time.Duration
		minWait  time.Duration
		wantErr  bool
		wantRows int
	}{
		{"no stall", 0, time.Second, 0, false, 1},
		{"write waits out the stall", 150 * time.Millisecond, time.Second, 120 * time.Millisecond, false, 1},
		{"context ends the wait", time.Second, 50 * time.Millisecond, 40 * time.Millisecond, true, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := New()
			s.Stall(tc.stall)
			ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
			defer cancel()
			start := time.Now()
			err := s.WriteReadings(ctx, []store.Row{row(1, start)})
			waited := time.Since(start)
			if (err != nil) != tc.wantErr || (err != nil && !errors.Is(err, context.DeadlineExceeded)) {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if waited < tc.minWait || (tc.stall == 0 && waited > 50*time.Millisecond) {
				t.Errorf("write returned after %s, want at least %s", waited, tc.minWait)
			}
			if s.Count() != tc.wantRows {
				t.Errorf("Count = %d, want %d", s.Count(), tc.wantRows)
			}
		})
	}
}

func TestStallExtendsNeverShortens(t *testing.T) {
	s := New()
	s.Stall(200 * time.Millisecond)
	s.Stall(10 * time.Millisecond)
	start := time.Now()
	if err := s.WriteReadings(context.Background(), []store.Row{row(1, start)}); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < 150*time.Millisecond {
		t.Errorf("shorter second stall cut the first: waited %s", waited)
	}
	// Reads are not stalled: the API keeps serving while writes back up.
	s.Stall(time.Second)
	start = time.Now()
	if _, err := s.Readings(context.Background(), store.Query{DeviceID: "d", From: start.Add(-time.Hour), To: start}); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited > 100*time.Millisecond {
		t.Errorf("read waited %s during a write stall", waited)
	}
}

func TestClosed(t *testing.T) {
	s := New()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.WriteReadings(ctx, []store.Row{row(1, time.Now())}); !errors.Is(err, store.ErrClosed) {
		t.Errorf("write after close: %v", err)
	}
	if _, err := s.Devices(ctx); !errors.Is(err, store.ErrClosed) {
		t.Errorf("devices after close: %v", err)
	}
}

func BenchmarkWriteReadings(b *testing.B) {
	storetest.BenchWrite(b, New(), 100, 500)
}

// clock is a settable time for the store's write stamps and reads.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestTTL(t *testing.T) {
	const ttl = time.Minute
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	at := t0.Add(-time.Hour) // the readings' sample time
	type write struct {
		after time.Duration // since t0
		seq   uint64
	}
	tests := []struct {
		name        string
		ttl         time.Duration
		writes      []write
		expireAt    time.Duration // since t0
		wantRemoved int
		wantLive    []uint64 // seqs Readings still returns
	}{
		{"nothing before the ttl", ttl, []write{{0, 1}, {time.Second, 2}}, ttl - time.Microsecond, 0, []uint64{1, 2}},
		{"exactly at the ttl", ttl, []write{{0, 1}, {time.Second, 2}}, ttl, 1, []uint64{2}},
		{"everything well after", ttl, []write{{0, 1}, {time.Second, 2}}, time.Hour, 2, nil},
		{"a rewrite restarts the ttl", ttl, []write{{0, 1}, {0, 2}, {30 * time.Second, 1}}, ttl + time.Second, 1, []uint64{1}},
		{"no ttl keeps everything", 0, []write{{0, 1}, {time.Second, 2}}, 24 * time.Hour, 0, []uint64{1, 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &clock{t: t0}
			s := New(WithTTL(tc.ttl))
			s.now = c.now
			ctx := context.Background()
			for _, w := range tc.writes {
				c.t = t0.Add(w.after)
				if err := s.WriteReadings(ctx, []store.Row{row(w.seq, at.Add(time.Duration(w.seq)*time.Millisecond))}); err != nil {
					t.Fatal(err)
				}
			}
			c.t = t0.Add(tc.expireAt)
			// Readings hides what has expired even before Expire removes it.
			if got := liveSeqs(t, s, at); !slices.Equal(got, tc.wantLive) {
				t.Errorf("before Expire: Readings returned seqs %v, want %v", got, tc.wantLive)
			}
			if n := s.Expire(c.t); n != tc.wantRemoved {
				t.Errorf("Expire removed %d, want %d", n, tc.wantRemoved)
			}
			if n := s.Expire(c.t); n != 0 {
				t.Errorf("second Expire removed %d more", n)
			}
			if got := s.Expired(); got != int64(tc.wantRemoved) {
				t.Errorf("Expired = %d, want %d", got, tc.wantRemoved)
			}
			if got := liveSeqs(t, s, at); !slices.Equal(got, tc.wantLive) {
				t.Errorf("after Expire: Readings returned seqs %v, want %v", got, tc.wantLive)
			}
			if s.Count() != len(tc.wantLive) {
				t.Errorf("Count = %d, want %d", s.Count(), len(tc.wantLive))
			}
		})
	}
}

func liveSeqs(t *testing.T, s *Store, at time.Time) []uint64 {
	t.Helper()
	rows, err := s.Readings(context.Background(), store.Query{DeviceID: "d", From: at.Add(-time.Second), To: at.Add(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	var out []uint64
	for _, r := range rows {
		out = append(out, r.Seq)
	}
	return out
}

// BenchmarkHeldBytes reports what the store holds per reading (heap bytes and
// objects after a GC) for two-metric readings with a time to live: at a
// capacity search's rates it holds millions, and their size and object count
// are the embedded process's memory and GC work.
func BenchmarkHeldBytes(b *testing.B) {
	const devices, perDevice = 200, 5000
	base := time.Now()
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s := New(WithTTL(time.Hour))
		for i := range perDevice {
			rows := make([]store.Row, 0, devices)
			for d := range devices {
				// Fresh strings per row, as decoded payloads are.
				rows = append(rows, store.Row{DeviceID: fmt.Sprintf("env-%05d", d), Time: base.Add(time.Duration(i) * time.Millisecond), Seq: uint64(i + 1),
					Metrics: map[string]float64{strings.Clone("temperature"): 1, strings.Clone("humidity"): 2}})
			}
			if err := s.WriteReadings(context.Background(), rows); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		n := float64(s.Count())
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heap-B/reading")
		b.ReportMetric(float64(after.HeapObjects-before.HeapObjects)/n, "objects/reading")
		runtime.KeepAlive(s)
	}
}
