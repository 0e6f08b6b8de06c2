package harness

import (
	"fmt"
	"strings"
	"time"

	"github.com/citybench/citybench/harness/ledger"
	"github.com/citybench/citybench/harness/schedule"
	"github.com/citybench/citybench/reports/result"
)

// burstUntil is where a closed-loop run's measured window ends: when the last
// burst finished (the scenario's duration only bounds it), so the time series
// covers the burst instead of the idle rest of the bound.
func burstUntil(plan *schedule.Plan, led *ledger.Ledger, until time.Duration) time.Duration {
	if !plan.ClosedLoop() {
		return until
	}
	return min(until, max(time.Since(led.Start()), time.Millisecond))
}

// markClosedLoop says on a burst run's result that the load followed the system
// (devices waited for acknowledgements) and whether every burst completed within
// the scenario's duration.
func markClosedLoop(res *result.Result, plan *schedule.Plan, until time.Duration) {
	if !plan.ClosedLoop() {
		return
	}
	res.Flags = append(res.Flags, result.FlagClosedLoop)
	res.Meta.DurationS = until.Seconds()
	var bounds []string
	seen := map[string]bool{}
	for _, d := range plan.Devices {
		f := d.Fleet
		if f.Arrival.Burst() && !seen[f.Name] {
			seen[f.Name] = true
			bounds = append(bounds, fmt.Sprintf("%s: %d × %d messages, at most %d in flight", f.Name, f.Devices, f.Arrival.Count, f.Arrival.Inflight))
		}
	}
	res.Warnings = append(res.Warnings, fmt.Sprintf("closed loop: burst devices sent back to back and waited for acknowledgements (%s), so the load followed the system; "+
		"latency counts from each message's intended time, the moment its in-flight slot freed, and rate_per_s is each stage's delivered / (its last observation − the first send)",
		strings.Join(bounds, "; ")))
	if sent := res.Stage(result.StageSent); sent != nil && sent.Delivery.Lost > 0 {
		res.Warnings = append(res.Warnings, fmt.Sprintf("burst incomplete: %d of %d messages were not sent within the scenario's duration (%s)",
			sent.Delivery.Lost, sent.Delivery.Expected, plan.End))
	}
}
