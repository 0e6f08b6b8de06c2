package capacity

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/citybench/citybench/harness/target"
	"github.com/citybench/citybench/reports/result"
)

// hostTick is one reading of the host's CPU time counters (/proc/stat, in
// clock ticks summed over every CPU): busy is everything but idle and iowait.
type hostTick struct {
	at          time.Time
	busy, total uint64
	cpus        int
}

// readHostTick reads the host's CPU counters (false where /proc/stat is missing).
func readHostTick(now time.Time) (hostTick, bool) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return hostTick{}, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return hostTick{}, false
	}
	fields := strings.Fields(sc.Text())
	if len(fields) < 5 || fields[0] != "cpu" {
		return hostTick{}, false
	}
	t := hostTick{at: now}
	for i, s := range fields[1:] {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return hostTick{}, false
		}
		t.total += v
		if i != 3 && i != 4 { // idle, iowait
			t.busy += v
		}
	}
	for sc.Scan() {
		if l := sc.Text(); strings.HasPrefix(l, "cpu") && len(l) > 3 && l[3] >= '0' && l[3] <= '9' {
			t.cpus++
		}
	}
	return t, t.cpus > 0
}

// hostSampler reads the host's CPU counters once a second while a step runs,
// so the step can tell its own components' CPU from other work on the host.
type hostSampler struct {
	mu    sync.Mutex
	ticks []hostTick
	stop  context.CancelFunc
	done  chan struct{}
}

func startHostSampler(ctx context.Context) *hostSampler {
	ctx, cancel := context.WithCancel(ctx)
	h := &hostSampler{stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(h.done)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			if t, ok := readHostTick(time.Now()); ok {
				h.mu.Lock()
				h.ticks = append(h.ticks, t)
				h.mu.Unlock()
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return h
}

// finish stops sampling and returns the readings.
func (h *hostSampler) finish() []hostTick {
	h.stop()
	<-h.done
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ticks
}

// hostBusy is the host's CPU use between from and until in percent of one core
// (100 = one core), from the readings nearest inside the window; false when
// fewer than two fall in it.
func hostBusy(ticks []hostTick, from, until time.Time) (float64, bool) {
	var first, last *hostTick
	for i := range ticks {
		t := &ticks[i]
		if t.at.Before(from) || t.at.After(until) {
			continue
		}
		if first == nil {
			first = t
		}
		last = t
	}
	if first == nil || last == first || last.total <= first.total {
		return 0, false
	}
	return 100 * float64(last.cpus) * float64(last.busy-first.busy) / float64(last.total-first.total), true
}

// hostShare sets the step's host CPU and the part of it no measured component
// (the harness, the target's containers) accounts for.
func hostShare(e *result.StepEntry, r *result.Result, ticks []hostTick) {
	from, until := measuredSeconds(r)
	zero := r.Meta.OffsetZero
	if zero.IsZero() || until <= from {
		return
	}
	busy, ok := hostBusy(ticks, zero.Add(time.Duration(from)*time.Second), zero.Add(time.Duration(until)*time.Second))
	if !ok {
		return
	}
	ours := 0.0
	for _, u := range e.Resources {
		ours += u.CPUMean
	}
	e.HostCPU, e.OtherCPU = busy, max(0, busy-ours)
}

// Quieter is a StepRunner that can wait for other work on the host to
// subside before a step is run again.
type Quieter interface {
	// WaitQuiet waits, at most limit, until processes other than the harness
	// and the target's components use less than share of the host's CPUs,
	// and returns the share they used last.
	WaitQuiet(ctx context.Context, share float64, limit time.Duration) (float64, error)
}

// quietWindow is how long one look at the host's CPU lasts.
const quietWindow = 3 * time.Second

// WaitQuiet implements Quieter: it looks at the host's CPU for quietWindow at
// a time, subtracting this process's CPU and the target's components' (when
// the target samples them), until the rest is below share or limit passes.
func (rn *Runner) WaitQuiet(ctx context.Context, share float64, limit time.Duration) (float64, error) {
	deadline := time.Now().Add(limit)
	for said := false; ; said = true {
		other, err := rn.otherShare(ctx)
		if err != nil || other < share || !time.Now().Add(quietWindow).Before(deadline) {
			return other, err
		}
		if !said && rn.Progress != nil {
			fmt.Fprintf(rn.Progress, "waiting up to %s for other work on the host to subside (it takes %.0f %% of the CPUs)…\n", limit, 100*other)
		}
	}
}

// otherShare is the share of the host's CPUs that neither this process nor
// the target's components used over one quietWindow.
func (rn *Runner) otherShare(ctx context.Context) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, quietWindow)
	defer cancel()
	var samples <-chan result.ResourceSample
	if rs, ok := rn.Target.(target.ResourceSampler); ok {
		samples, _ = rs.SampleResources(ctx, time.Now()) // without it, the target's CPU counts as other work: waiting longer, never wrongly
	}
	first, ok := readHostTick(time.Now())
	self0 := selfCPU()
	ours := map[string][]float64{}
	for samples != nil {
		s, more := <-samples
		if !more {
			break
		}
		ours[s.Component] = append(ours[s.Component], s.CPUPercent)
	}
	<-ctx.Done()
	if err := context.Cause(ctx); !errors.Is(err, context.DeadlineExceeded) {
		return 0, err
	}
	last, ok2 := readHostTick(time.Now())
	if !ok || !ok2 || last.total <= first.total {
		return 0, nil // no /proc/stat: nothing to wait for
	}
	wall := last.at.Sub(first.at)
	used := 100 * float64(selfCPU()-self0) / float64(wall)
	for _, v := range ours {
		sum := 0.0
		for _, p := range v {
			sum += p
		}
		used += sum / float64(len(v))
	}
	capacity := 100 * float64(last.cpus)
	busy := capacity * float64(last.busy-first.busy) / float64(last.total-first.total)
	return max(0, busy-used) / capacity, nil
}

// selfCPU is this process's CPU time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
