package testcontainers

import (
	"testing"

	"github.com/moby/moby/api/types/container"
)

func TestThrottledPct(t *testing.T) {
	stats := func(prePeriods, preThrottled, periods, throttled uint64) container.StatsResponse {
		var s container.StatsResponse
		s.PreCPUStats.ThrottlingData = container.ThrottlingData{Periods: prePeriods, ThrottledPeriods: preThrottled}
		s.CPUStats.ThrottlingData = container.ThrottlingData{Periods: periods, ThrottledPeriods: throttled}
		return s
	}
	for _, tc := range []struct {
		name string
		s    container.StatsResponse
		want float64
	}{
		{"no limit: no periods", stats(0, 0, 0, 0), 0},
		{"throttled in 6 of 10 periods", stats(100, 40, 110, 46), 60},
		{"never throttled", stats(100, 40, 110, 40), 0},
		{"counters reset (container restarted)", stats(100, 40, 5, 1), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := throttledPct(tc.s); got != tc.want {
				t.Errorf("throttled %.1f %%, want %.0f %%", got, tc.want)
			}
		})
	}
}
