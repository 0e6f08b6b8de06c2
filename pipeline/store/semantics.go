package store

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Semantics every implementation shares; they are Cassandra's, so the in-memory
// store cannot make a test pass that the real one would fail:
//
//   - Row.Time and Device.LastSeen are kept at millisecond precision (CQL
//     timestamp); Query bounds are compared at that precision too.
//   - Row.WriteTime has microsecond precision (CQL WRITETIME).
//   - Rows are keyed ((DeviceID, Day), Time, Seq). Writing a key again replaces
//     the row's metrics as a whole and moves its WriteTime.
//   - Readings returns rows in (Time, Seq) order, at most Limit of them.
//   - UpsertDevices is last-seen-wins: an upsert with an older LastSeen than the
//     stored one changes nothing; otherwise it replaces model, topic and location.
const (
	// DefaultLimit caps Readings when Query.Limit is 0.
	DefaultLimit = 1000
	// MaxLimit is the largest Query.Limit accepted. Larger limits are an error,
	// not silently clamped, so a pager that compares len(rows) to its limit never
	// mistakes a clamped page for the end.
	MaxLimit = 100_000
	// MaxQueryDays bounds how many day partitions one query may touch.
	MaxQueryDays = 400
)

// ErrClosed is returned by a store used after Close.
var ErrClosed = errors.New("store is closed")

// DayOf returns the partition day of t: its UTC date.
func DayOf(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// Normalize checks a row for writing and returns it as the store keeps it: Day
// filled in, Time truncated to the millisecond and in UTC. A Day that disagrees
// with Time is an error rather than a second copy of the row in another partition.
func Normalize(r Row) (Row, error) {
	switch {
	case r.DeviceID == "":
		return r, errors.New("row without device id")
	case r.Time.IsZero():
		return r, fmt.Errorf("row of %q without time", r.DeviceID)
	case len(r.Metrics) == 0:
		return r, fmt.Errorf("row of %q at %s without metrics", r.DeviceID, r.Time.Format(time.RFC3339Nano))
	case r.Seq > math.MaxInt64:
		// CQL bigint is signed.
		return r, fmt.Errorf("row of %q: seq %d exceeds %d", r.DeviceID, r.Seq, int64(math.MaxInt64))
	}
	r.Time = time.UnixMilli(r.Time.UnixMilli()).UTC()
	day := DayOf(r.Time)
	if r.Day != "" && r.Day != day {
		return r, fmt.Errorf("row of %q: day %q does not match time %s", r.DeviceID, r.Day, r.Time.Format(time.RFC3339Nano))
	}
	r.Day = day
	return r, nil
}

// Days lists the partition days a query over [from, to) touches, oldest first.
func Days(from, to time.Time) []string {
	var days []string
	start := time.UnixMilli(from.UnixMilli()).UTC().Truncate(24 * time.Hour)
	end := time.UnixMilli(to.UnixMilli()).UTC()
	for d := start; d.Before(end); d = d.Add(24 * time.Hour) {
		days = append(days, DayOf(d))
	}
	return days
}

// CheckQuery validates q and returns the effective limit.
func CheckQuery(q Query) (int, error) {
	switch {
	case q.DeviceID == "":
		return 0, errors.New("query without device id")
	case q.From.IsZero() || q.To.IsZero():
		return 0, errors.New("query needs both From and To")
	case q.Limit < 0:
		return 0, fmt.Errorf("negative limit %d", q.Limit)
	case q.Limit > MaxLimit:
		return 0, fmt.Errorf("limit %d exceeds the maximum %d; page instead", q.Limit, MaxLimit)
	case q.To.Sub(q.From) > MaxQueryDays*24*time.Hour:
		return 0, fmt.Errorf("query spans %s, more than %d days", q.To.Sub(q.From), MaxQueryDays)
	}
	if q.Limit == 0 {
		return DefaultLimit, nil
	}
	return q.Limit, nil
}

// NormalizeDevice returns d as the store keeps it: LastSeen at millisecond
// precision in UTC (now, if unset) and an empty location as nil.
func NormalizeDevice(d Device, now time.Time) (Device, error) {
	if d.ID == "" {
		return d, errors.New("device without id")
	}
	if d.LastSeen.IsZero() {
		d.LastSeen = now
	}
	d.LastSeen = time.UnixMilli(d.LastSeen.UnixMilli()).UTC()
	if len(d.Location) == 0 {
		d.Location = nil
	}
	return d, nil
}
