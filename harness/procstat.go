package harness

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/citybench/citybench/reports/result"
)

// processSampler reads the harness process's own CPU time and resident memory,
// so a report can show whether the harness was near saturation.
type processSampler struct {
	component string
	lastCPU   time.Duration
	lastWall  time.Time
}

func newProcessSampler(component string) *processSampler {
	cpu, _ := processCPU()
	return &processSampler{component: component, lastCPU: cpu, lastWall: time.Now()}
}

func (p *processSampler) sample(now, origin time.Time) (result.ResourceSample, bool) {
	cpu, ok := processCPU()
	if !ok {
		return result.ResourceSample{}, false
	}
	wall := now.Sub(p.lastWall)
	pct := 0.0
	if wall > 0 {
		pct = 100 * float64(cpu-p.lastCPU) / float64(wall)
	}
	p.lastCPU, p.lastWall = cpu, now
	return result.ResourceSample{AtS: now.Sub(origin).Seconds(), Component: p.component, CPUPercent: pct, MemoryBytes: residentBytes()}, true
}

func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}

// residentBytes is VmRSS from /proc/self/status (0 where there is none).
func residentBytes() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb * 1024
			}
		}
	}
	return 0
}
