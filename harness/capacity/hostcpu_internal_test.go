package capacity

import (
	"math"
	"testing"
	"time"

	"github.com/citybench/citybench/reports/result"
)

func TestHostShare(t *testing.T) {
	zero := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	// Two CPUs, 100 ticks each per second: 150 busy ticks a second is 150 %.
	var ticks []hostTick
	for s := range 8 {
		ticks = append(ticks, hostTick{at: zero.Add(time.Duration(s)*time.Second + 300*time.Millisecond), busy: uint64(150 * s), total: uint64(200 * s), cpus: 2})
	}
	r := &result.Result{Meta: result.Meta{OffsetZero: zero}, Intervals: make([]result.Interval, 8),
		Phases: []result.Phase{{Name: "warm-up", EndS: 2}, {Name: "steady", StartS: 2, EndS: 7}}}
	for _, tc := range []struct {
		name        string
		use         []result.ComponentUse
		host, other float64
	}{
		{"ours account for most", []result.ComponentUse{{Component: "harness", CPUMean: 20}, {Component: "kafka-1", CPUMean: 100}}, 150, 30},
		{"ours exceed the host (sampling jitter)", []result.ComponentUse{{Component: "harness", CPUMean: 170}}, 150, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := result.StepEntry{Resources: tc.use}
			hostShare(&e, r, ticks)
			if math.Abs(e.HostCPU-tc.host) > 0.01 || math.Abs(e.OtherCPU-tc.other) > 0.01 {
				t.Errorf("host %.1f other %.1f, want %.0f and %.0f", e.HostCPU, e.OtherCPU, tc.host, tc.other)
			}
		})
	}
	e := result.StepEntry{}
	hostShare(&e, r, ticks[:1])
	if e.HostCPU != 0 {
		t.Errorf("one reading gave host CPU %.0f, want unmeasured (0)", e.HostCPU)
	}
	if tick, ok := readHostTick(time.Now()); ok && (tick.cpus < 1 || tick.busy > tick.total) {
		t.Errorf("read %+v from /proc/stat: want CPUs counted and busy within total", tick)
	}
}
