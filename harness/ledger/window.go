package ledger

import (
	"math/bits"
	"slices"
)

// seqWindow is one device's delivery state at one stage in memory bounded by
// its window and its gaps, not by how many messages the device sent: a bitmap
// of the seqs in [base, base+windowSeqs) and the set of seqs below base never
// seen (holes). It answers what the slot-per-message ledger answers — first
// sighting or duplicate, reordered, how many are missing, the first unseen —
// exactly, for any order of arrival: a seq that falls behind the window unseen
// is kept as a hole, so a late first sighting is still told from a duplicate.
// It is the building block of the bounded recorder (the ledger's replacement
// for long runs); it keeps no times.
type seqWindow struct {
	base   uint64   // lowest seq the bitmap covers (1 + a multiple of 64); below it, seen or in holes
	words  []uint64 // ring of windowWords words; bit (seq-base) from head
	head   int      // index in words of the word holding base
	holes  []uint64 // unseen seqs below base, ascending
	maxSeq uint64   // highest seq seen
	seen   int64    // distinct seqs seen
	dups   int64
	reord  int64
}

// windowSeqs is how many seqs a window tracks bit by bit: 512 B per device and
// stage, so six stages of 50,000 devices take 150 MiB. Reordering deeper than
// that turns into holes, which stay exact but cost 8 B each.
const (
	windowWords = 64
	windowSeqs  = windowWords * 64
)

func newSeqWindow() *seqWindow {
	return &seqWindow{base: 1, words: make([]uint64, windowWords)}
}

// observe records seq and reports whether it is its first sighting.
func (w *seqWindow) observe(seq uint64) bool {
	if seq == 0 {
		return false
	}
	if seq < w.base {
		i, found := slices.BinarySearch(w.holes, seq)
		if !found {
			w.dups++
			return false
		}
		w.holes = slices.Delete(w.holes, i, i+1)
		w.first(seq)
		return true
	}
	for seq >= w.base+windowSeqs {
		w.retire()
	}
	word, bit := w.slot(seq)
	if w.words[word]&bit != 0 {
		w.dups++
		return false
	}
	w.words[word] |= bit
	w.first(seq)
	return true
}

func (w *seqWindow) first(seq uint64) {
	w.seen++
	if seq < w.maxSeq {
		w.reord++
	} else {
		w.maxSeq = seq
	}
}

// slot is the ring word and bit of seq, which must be inside the window.
func (w *seqWindow) slot(seq uint64) (word int, bit uint64) {
	off := seq - w.base
	return (w.head + int(off/64)) % windowWords, 1 << (off % 64)
}

// retire moves the window one word up, keeping the unseen seqs it passes as holes.
func (w *seqWindow) retire() {
	word := w.words[w.head]
	for b := range uint64(64) {
		if word&(1<<b) == 0 {
			w.holes = append(w.holes, w.base+b)
		}
	}
	w.words[w.head] = 0
	w.head = (w.head + 1) % windowWords
	w.base += 64
}

// missing is how many of seqs 1..upTo are unseen.
func (w *seqWindow) missing(upTo uint64) int {
	n := 0
	for _, h := range w.holes {
		if h > upTo {
			break
		}
		n++
	}
	for seq := w.base; seq <= upTo && seq < w.base+windowSeqs; {
		word, _ := w.slot(seq)
		off := (seq - w.base) % 64
		span := min(64-off, upTo-seq+1)
		mask := ^uint64(0) >> (64 - span) << off
		n += int(span) - bits.OnesCount64(w.words[word]&mask)
		seq += span
	}
	if upTo >= w.base+windowSeqs {
		n += int(upTo - (w.base + windowSeqs) + 1)
	}
	return n
}

// firstUnseen is the lowest unseen seq in 1..upTo; ok is false when all are seen.
func (w *seqWindow) firstUnseen(upTo uint64) (uint64, bool) {
	if len(w.holes) > 0 && w.holes[0] <= upTo {
		return w.holes[0], true
	}
	for seq := w.base; seq <= upTo; seq++ {
		if seq >= w.base+windowSeqs {
			return seq, true
		}
		word, bit := w.slot(seq)
		if w.words[word]&bit == 0 {
			return seq, true
		}
	}
	return 0, false
}
