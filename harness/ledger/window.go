package ledger

import (
	"math/bits"
	"sort"
)

// seqWindow is one device's delivery state at one stage in memory bounded by
// its window and its gaps, not by how many messages the device sent: a bitmap
// of the seqs in [base, base+windowSeqs) and the unseen seqs below base as
// ranges (gaps). Everything below base outside a gap was seen: the delivered
// watermark plus a small exception set. It answers what a slot per message
// would — first sighting or duplicate, reordered, how many are missing, the
// first unseen — exactly, for any order of arrival: a seq that falls behind
// the window unseen stays in a gap, so a late first sighting is still told
// from a duplicate. It keeps no times.
type seqWindow struct {
	base   uint64              // lowest seq the bitmap covers (1 + a multiple of 64)
	words  [windowWords]uint64 // ring; bit (seq-base) from head
	head   int                 // index in words of the word holding base
	gaps   []gap               // unseen seqs below base, ascending and disjoint
	maxSeq uint64              // highest seq seen
	seen   int64               // distinct seqs seen
	dups   int64
	reord  int64
}

// gap is the unseen seqs from..to (inclusive).
type gap struct{ from, to uint64 }

// windowSeqs is how many seqs a window tracks bit by bit: 64 B per device and
// stage. Reordering deeper than that turns into gaps, which stay exact: a lost
// run of messages costs one gap (16 B), however long.
const (
	windowWords = 8
	windowSeqs  = windowWords * 64
)

func newSeqWindow() *seqWindow { return &seqWindow{base: 1} }

// observe records seq and reports whether it is its first sighting.
func (w *seqWindow) observe(seq uint64) bool {
	if seq == 0 {
		return false
	}
	if seq < w.base {
		i, found := w.gapOf(seq)
		if !found {
			w.dups++
			return false
		}
		w.fill(i, seq)
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

// gapOf finds the gap holding seq.
func (w *seqWindow) gapOf(seq uint64) (int, bool) {
	i := sort.Search(len(w.gaps), func(i int) bool { return w.gaps[i].to >= seq })
	return i, i < len(w.gaps) && w.gaps[i].from <= seq
}

// fill removes seq from gap i, which holds it.
func (w *seqWindow) fill(i int, seq uint64) {
	g := w.gaps[i]
	switch {
	case g.from == g.to:
		w.gaps = append(w.gaps[:i], w.gaps[i+1:]...)
	case seq == g.from:
		w.gaps[i].from++
	case seq == g.to:
		w.gaps[i].to--
	default:
		w.gaps = append(w.gaps, gap{})
		copy(w.gaps[i+2:], w.gaps[i+1:])
		w.gaps[i] = gap{g.from, seq - 1}
		w.gaps[i+1] = gap{seq + 1, g.to}
	}
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

// retire moves the window one word up, keeping the unseen seqs it passes as gaps.
func (w *seqWindow) retire() {
	word := w.words[w.head]
	for b := range uint64(64) {
		if word&(1<<b) == 0 {
			w.addGap(w.base + b)
		}
	}
	w.words[w.head] = 0
	w.head = (w.head + 1) % windowWords
	w.base += 64
}

// addGap adds seq, above every gap, extending the last gap when adjacent.
func (w *seqWindow) addGap(seq uint64) {
	if n := len(w.gaps); n > 0 && w.gaps[n-1].to+1 == seq {
		w.gaps[n-1].to = seq
		return
	}
	w.gaps = append(w.gaps, gap{seq, seq})
}

// has reports whether seq was seen.
func (w *seqWindow) has(seq uint64) bool {
	switch {
	case seq == 0 || seq >= w.base+windowSeqs:
		return false
	case seq < w.base:
		_, inGap := w.gapOf(seq)
		return !inGap
	}
	word, bit := w.slot(seq)
	return w.words[word]&bit != 0
}

// missing is how many of seqs 1..upTo are unseen.
func (w *seqWindow) missing(upTo uint64) int {
	n := uint64(0)
	for _, g := range w.gaps {
		if g.from > upTo {
			break
		}
		n += min(g.to, upTo) - g.from + 1
	}
	for seq := w.base; seq <= upTo && seq < w.base+windowSeqs; {
		word, _ := w.slot(seq)
		off := (seq - w.base) % 64
		span := min(64-off, upTo-seq+1)
		mask := ^uint64(0) >> (64 - span) << off
		n += span - uint64(bits.OnesCount64(w.words[word]&mask))
		seq += span
	}
	if upTo >= w.base+windowSeqs {
		n += upTo - (w.base + windowSeqs) + 1
	}
	return int(n)
}

// firstUnseen is the lowest unseen seq in 1..upTo; ok is false when all are seen.
func (w *seqWindow) firstUnseen(upTo uint64) (uint64, bool) {
	if len(w.gaps) > 0 && w.gaps[0].from <= upTo {
		return w.gaps[0].from, true
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
