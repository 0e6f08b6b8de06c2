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

// planReplay gives a replay device its messages from src, one per row (or one per
// present metric when the topic names the metric). Empty cells stay empty: the
// metric is not sent, and a row with no value at all sends nothing.
func planReplay(d *Device, src ValueSource, perMetric bool, end time.Duration, st *ReplayStats) {
	topics := d.Topics()
	seq := uint64(0)
	for {
		at, values, ok := src.Next()
		if !ok {
			return
		}
		st.Rows++
		if at >= end {
			st.RowsBeyondRun++
			continue
		}
		empty := 0
		for _, v := range values {
			if math.IsNaN(v) {
				empty++
			}
		}
		if empty == len(values) {
			st.RowsEmpty++
			continue
		}
		st.EmptyCells += empty
		st.RowsReplayed++
		if !perMetric {
			seq++
			d.Messages = append(d.Messages, Message{Seq: seq, At: at, Topic: topics[0], Metric: -1, Values: values})
			continue
		}
		for m, v := range values {
			if math.IsNaN(v) {
				continue
			}
			seq++
			d.Messages = append(d.Messages, Message{Seq: seq, At: at, Topic: topics[m], Metric: m, Values: values})
		}
	}
}
