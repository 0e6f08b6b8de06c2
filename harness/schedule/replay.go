package schedule

import (
	"math"
	"time"

	"github.com/citybench/citybench/scenarios"
	"github.com/citybench/citybench/scenarios/replay"
)

// ValueSource is one device's samples in time order — where a device's values and
// send times come from when not from its sensors' distributions and arrival. A
// replay fleet's devices each have one.
type ValueSource interface {
	// Next returns the next sample: its offset on the run's time line and one
	// value per metric (NaN: the source has no value for that metric). ok is
	// false when the source is exhausted.
	Next() (at time.Duration, values []float64, ok bool)
}

// replaySource replays one site's rows: a row dated D is due at
// (D − the file's first date) / speedup. Missing days are simply absent.
type replaySource struct {
	site    *replay.Site
	zero    time.Time
	speedup float64
	next    int
}

func (s *replaySource) Next() (time.Duration, []float64, bool) {
	if s.next >= len(s.site.Rows) {
		return 0, nil, false
	}
	r := s.site.Rows[s.next]
	s.next++
	return time.Duration(float64(r.Date.Sub(s.zero)) / s.speedup), r.Values, true
}

// replaySourceOf is the value source of device i of a replay fleet: the file's i-th site.
func replaySourceOf(r *scenarios.Replay, i int) ValueSource {
	return &replaySource{site: &r.Data.Sites[i], zero: r.Data.First, speedup: r.Speedup}
}

// ReplayStats says what a replay fleet's devices did with their recording.
type ReplayStats struct {
	Fleet, File, SHA256 string
	Sites               int // sites replayed (one per device)
	Rows                int // rows of those sites in the file
	RowsReplayed        int // rows that became at least one message
	Messages            int
	// MissingDays are days absent from a site's series between its first and
	// last row: nothing is sent for them.
	MissingDays int
	// EmptyCells are empty cells of replayed rows: the metric is left out.
	EmptyCells int
	// RowsEmpty had no value for any metric and sent nothing.
	RowsEmpty int
	// RowsBeyondRun fell after the run's end at this speed-up and were not sent.
	RowsBeyondRun int
}

// nextReplay yields a replay device's next message from its recording: one per
// row (or one per present metric when the topic names the metric). Empty cells
// stay empty: the metric is not sent, and a row with no value at all sends
// nothing; rows past the run's end are not sent.
func (c *Cursor) nextReplay() (Message, bool) {
	g := &c.d.gen
	for {
		if c.values != nil && g.perMetric {
			for ; c.left < len(c.values); c.left++ {
				if !math.IsNaN(c.values[c.left]) {
					c.seq++
					m := Message{Seq: c.seq, At: c.at, Topic: g.topics[c.left], Metric: c.left, Values: c.values}
					c.left++
					return m, true
				}
			}
		}
		at, values, ok := c.src.Next()
		if !ok {
			return Message{}, false
		}
		c.values = nil
		if at >= g.end || emptyCells(values) == len(values) {
			continue
		}
		if !g.perMetric {
			c.seq++
			return Message{Seq: c.seq, At: at, Topic: g.topics[0], Metric: -1, Values: values}, true
		}
		c.at, c.values, c.left = at, values, 0
	}
}

// emptyCells counts a row's missing values.
func emptyCells(values []float64) int {
	n := 0
	for _, v := range values {
		if math.IsNaN(v) {
			n++
		}
	}
	return n
}

// countReplay adds what replay device d will do with its recording to st.
func countReplay(d *Device, st *ReplayStats) {
	src := replaySourceOf(d.gen.replay, d.gen.local)
	for {
		at, values, ok := src.Next()
		if !ok {
			break
		}
		st.Rows++
		empty := emptyCells(values)
		switch {
		case at >= d.gen.end:
			st.RowsBeyondRun++
		case empty == len(values):
			st.RowsEmpty++
		default:
			st.EmptyCells += empty
			st.RowsReplayed++
		}
	}
	st.Messages += d.Count()
}
