package ledger

import (
	"math/rand/v2"
	"testing"
	"time"
)

// reference is today's slot-per-message accounting, for equality.
type reference struct {
	seen          map[uint64]bool
	maxSeq        uint64
	dups, reord   int64
	distinctCount int64
}

func (r *reference) observe(seq uint64) bool {
	if seq == 0 {
		return false
	}
	if r.seen[seq] {
		r.dups++
		return false
	}
	r.seen[seq] = true
	r.distinctCount++
	if seq < r.maxSeq {
		r.reord++
	} else {
		r.maxSeq = seq
	}
	return true
}

func (r *reference) missing(upTo uint64) int {
	n := 0
	for s := uint64(1); s <= upTo; s++ {
		if !r.seen[s] {
			n++
		}
	}
	return n
}

func (r *reference) firstUnseen(upTo uint64) (uint64, bool) {
	for s := uint64(1); s <= upTo; s++ {
		if !r.seen[s] {
			return s, true
		}
	}
	return 0, false
}

// TestSeqWindowEqualsSlotPerMessage feeds the window and the slot-per-message
// reference the same arrival streams — in order, with losses, duplicates, local
// reordering and stragglers far behind the window — and wants the same answers
// to every question at every step.
func TestSeqWindowEqualsSlotPerMessage(t *testing.T) {
	const n = 3 * windowSeqs
	tests := []struct {
		name                           string
		lossP, dupP, swapP, stragglerP float64
	}{
		{"in order", 0, 0, 0, 0},
		{"losses", 0.01, 0, 0, 0},
		{"duplicates", 0, 0.05, 0, 0},
		{"local reordering", 0, 0, 0.1, 0},
		{"stragglers behind the window", 0.002, 0.01, 0.05, 0.002},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, uint64(len(tt.name))))
			var stream, late []uint64
			for s := uint64(1); s <= n; s++ {
				switch r := rng.Float64(); {
				case r < tt.lossP:
					continue
				case r < tt.lossP+tt.stragglerP:
					late = append(late, s) // arrives after everything else
					continue
				}
				stream = append(stream, s)
				if rng.Float64() < tt.dupP {
					stream = append(stream, s)
				}
				if k := len(stream); k > 1 && rng.Float64() < tt.swapP {
					stream[k-1], stream[k-2] = stream[k-2], stream[k-1]
				}
			}
			stream = append(stream, late...)
			w, ref := newSeqWindow(), &reference{seen: map[uint64]bool{}}
			for i, s := range stream {
				if got, want := w.observe(s), ref.observe(s); got != want {
					t.Fatalf("step %d seq %d: first = %v, want %v", i, s, got, want)
				}
				if i%4999 == 0 || i == len(stream)-1 {
					upTo := min(ref.maxSeq+100, n)
					if got, want := w.missing(upTo), ref.missing(upTo); got != want {
						t.Fatalf("step %d: missing(%d) = %d, want %d", i, upTo, got, want)
					}
					gs, gok := w.firstUnseen(upTo)
					ws, wok := ref.firstUnseen(upTo)
					if gs != ws || gok != wok {
						t.Fatalf("step %d: firstUnseen(%d) = %d %v, want %d %v", i, upTo, gs, gok, ws, wok)
					}
				}
			}
			if w.seen != ref.distinctCount || w.dups != ref.dups || w.reord != ref.reord {
				t.Fatalf("seen/dups/reordered = %d/%d/%d, want %d/%d/%d", w.seen, w.dups, w.reord, ref.distinctCount, ref.dups, ref.reord)
			}
			if got, want := w.missing(n), ref.missing(n); got != want {
				t.Fatalf("final missing = %d, want %d", got, want)
			}
		})
	}
}

// TestSeqWindowMemoryFlat: a long in-order stream keeps no holes, so the
// window's memory does not grow with the messages seen.
func TestSeqWindowMemoryFlat(t *testing.T) {
	w := newSeqWindow()
	for s := uint64(1); s <= 50*windowSeqs; s++ {
		w.observe(s)
	}
	if len(w.gaps) != 0 || w.missing(50*windowSeqs) != 0 {
		t.Fatalf("gaps %d missing %d", len(w.gaps), w.missing(50*windowSeqs))
	}
}

// TestProgressViewEqualsSlots: the ledger's progress view (from its windows)
// answers exactly what its slots say, for every until, while a stage is
// recorded out of order with losses, duplicates and stragglers.
func TestProgressViewEqualsSlots(t *testing.T) {
	const n = 2*windowSeqs + 500
	l := New(plan(n))
	l.SetStart(time.Unix(1000, 0))
	rng := rand.New(rand.NewPCG(1, 2))
	msgs := l.plan.Devices[0].Messages()
	seen := map[uint64]bool{}
	var late []uint64
	check := func(step int) {
		for _, until := range []time.Duration{0, 50 * time.Millisecond, time.Duration(rng.IntN(n)) * 100 * time.Millisecond, time.Duration(n) * 100 * time.Millisecond} {
			want, wantFirst, wantOK := 0, uint64(0), false
			for _, m := range msgs {
				if m.At >= until {
					break
				}
				if !seen[m.Seq] {
					if !wantOK {
						wantFirst, wantOK = m.Seq, true
					}
					want++
				}
			}
			if got := l.Missing(Store, 0, until); got != want {
				t.Fatalf("step %d until %s: Missing = %d, want %d", step, until, got, want)
			}
			if got, ok := l.FirstUnseen(Store, 0, until); got != wantFirst || ok != wantOK {
				t.Fatalf("step %d until %s: FirstUnseen = %d %v, want %d %v", step, until, got, ok, wantFirst, wantOK)
			}
		}
	}
	for seq := uint64(1); seq <= n; seq++ {
		switch r := rng.Float64(); {
		case r < 0.01:
			continue // lost
		case r < 0.02:
			late = append(late, seq)
			continue
		case r < 0.05:
			l.Observe(Store, 0, seq, 1) // and again below: a duplicate
		}
		l.Observe(Store, 0, seq, 1)
		seen[seq] = true
		if seq%3000 == 0 {
			check(int(seq))
		}
	}
	for _, seq := range late {
		l.Observe(Store, 0, seq, 1)
		seen[seq] = true
	}
	check(n)
}
