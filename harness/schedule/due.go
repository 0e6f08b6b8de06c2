package schedule

import (
	"context"
	"time"
)

// Due holds an open-loop sender to the plan's intended times on one reusable
// timer: each message is sent at start+At, a late one at once — never re-timed,
// so the lag shows in its latency (coordinated omission corrected by design).
// Devices and the downlink commander wait the same way.
type Due struct {
	start time.Time
	timer *time.Timer
}

// NewDue waits for times on the time line that begins at start. Stop it when done.
func NewDue(start time.Time) *Due {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &Due{start: start, timer: t}
}

// Wait returns true once start+at has come (at once when it has passed), and
// false when ctx ends first.
func (d *Due) Wait(ctx context.Context, at time.Duration) bool {
	wait := time.Until(d.start.Add(at))
	if wait <= 0 {
		return ctx.Err() == nil
	}
	d.timer.Reset(wait)
	select {
	case <-d.timer.C:
		return true
	case <-ctx.Done():
		d.timer.Stop()
		return false
	}
}

// Stop releases the timer.
func (d *Due) Stop() { d.timer.Stop() }
