package schedule

import (
	"fmt"
	"strconv"
	"strings"
)

// Segment is one of N interleaved slices of a scenario, as k6's execution
// segments: device k of every fleet belongs to segment k mod N, so each segment
// carries the same mix of fleets and a smooth share of every rate.
type Segment struct {
	I, N int // 0 ≤ I < N
}

// Whole is the unsliced scenario.
var Whole = Segment{I: 0, N: 1}

// ParseSegment reads "i/n" (0-based i, as an Indexed Job's completion index).
func ParseSegment(s string) (Segment, error) {
	is, ns, ok := strings.Cut(s, "/")
	if !ok {
		return Segment{}, fmt.Errorf("segment %q: want i/n, e.g. 0/3", s)
	}
	i, err1 := strconv.Atoi(strings.TrimSpace(is))
	n, err2 := strconv.Atoi(strings.TrimSpace(ns))
	if err1 != nil || err2 != nil {
		return Segment{}, fmt.Errorf("segment %q: want i/n with whole numbers, e.g. 0/3", s)
	}
	seg := Segment{I: i, N: n}
	return seg, seg.Validate()
}

// Validate checks 0 ≤ I < N.
func (s Segment) Validate() error {
	if s.N < 1 || s.I < 0 || s.I >= s.N {
		return fmt.Errorf("segment %d/%d: want 0 ≤ i < n", s.I, s.N)
	}
	return nil
}

// Holds reports whether a fleet's device k belongs to the segment.
func (s Segment) Holds(k int) bool { return s.N <= 1 || k%s.N == s.I }

// IsWhole reports whether the segment is the whole scenario.
func (s Segment) IsWhole() bool { return s.N <= 1 }

func (s Segment) String() string { return fmt.Sprintf("%d/%d", s.I, s.N) }

// Count is how many of a fleet's n devices the segment holds.
func (s Segment) Count(n int) int {
	if s.N <= 1 {
		return n
	}
	return max(0, (n-s.I+s.N-1)/s.N)
}
