package memory

import (
	"context"
	"errors"
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
