package testcontainers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/citybench/citybench/harness/target"
	"github.com/citybench/citybench/reports/result"
)

// SampleResources streams each container's CPU% and memory about once a second
// (the Docker stats API's own cadence) until ctx ends, then closes the channel.
// AtS is seconds since origin, so samples line up with the run's intervals.
// Component is the container's alias (mqtt, kafka-2, cassandra-1, sink-1, ...).
func (t *Target) SampleResources(ctx context.Context, origin time.Time) (<-chan result.ResourceSample, error) {
	t.mu.Lock()
	dc := t.docker
	t.mu.Unlock()
	if dc == nil {
		return nil, errors.New("sample resources: target not started")
	}
	ms := t.snapshot()
	out := make(chan result.ResourceSample, 16*len(ms)+1)
	var wg sync.WaitGroup
	for _, m := range ms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := streamStats(ctx, dc, m.c.GetContainerID(), m.name, origin, out); err != nil && ctx.Err() == nil {
				t.cfg.log.Warn("resource sampling stopped", "container", m.name, "err", err)
			}
		}()
	}
	go func() {
		wg.Wait()
		close(out)
	}()
	return out, nil
}

func streamStats(ctx context.Context, dc *client.Client, id, name string, origin time.Time, out chan<- result.ResourceSample) error {
	res, err := dc.ContainerStats(ctx, id, client.ContainerStatsOptions{Stream: true})
	if err != nil {
		return fmt.Errorf("stats %s: %w", name, err)
	}
	defer res.Body.Close()
	dec := json.NewDecoder(res.Body)
	for {
		var s container.StatsResponse
		if err := dec.Decode(&s); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("decode stats %s: %w", name, err)
		}
		cpu, ok := cpuPercent(s)
		if !ok {
			continue // the first record has no previous sample to diff against
		}
		sample := result.ResourceSample{
			AtS:             s.Read.Sub(origin).Seconds(),
			Component:       name,
			CPUPercent:      cpu,
			MemoryBytes:     int64(memoryUsed(s.MemoryStats)),
			CPUThrottledPct: throttledPct(s),
		}
		select {
		case out <- sample:
		case <-ctx.Done():
			return nil
		}
	}
}

// cpuPercent follows `docker stats`: container CPU time over host CPU time between
// two samples, times the number of CPUs, so 100 means one full core.
func cpuPercent(s container.StatsResponse) (float64, bool) {
	cpuDelta := float64(s.CPUStats.CPUUsage.TotalUsage) - float64(s.PreCPUStats.CPUUsage.TotalUsage)
	sysDelta := float64(s.CPUStats.SystemUsage) - float64(s.PreCPUStats.SystemUsage)
	if s.PreCPUStats.SystemUsage == 0 || sysDelta <= 0 || cpuDelta < 0 {
		return 0, false
	}
	cpus := float64(s.CPUStats.OnlineCPUs)
	if cpus == 0 {
		cpus = float64(len(s.CPUStats.CPUUsage.PercpuUsage))
	}
	return cpuDelta / sysDelta * cpus * 100, true
}

// throttledPct is the share of CPU periods between two samples in which the
// container's CPU limit throttled it (0 without a limit).
func throttledPct(s container.StatsResponse) float64 {
	now, pre := s.CPUStats.ThrottlingData, s.PreCPUStats.ThrottlingData
	if now.Periods <= pre.Periods || now.ThrottledPeriods < pre.ThrottledPeriods {
		return 0
	}
	return 100 * float64(now.ThrottledPeriods-pre.ThrottledPeriods) / float64(now.Periods-pre.Periods)
}

// memoryUsed follows `docker stats` too: usage minus reclaimable page cache.
func memoryUsed(m container.MemoryStats) uint64 {
	cache := m.Stats["total_inactive_file"]    // cgroup v1
	if v, ok := m.Stats["inactive_file"]; ok { // cgroup v2
		cache = v
	}
	if cache > m.Usage {
		return m.Usage
	}
	return m.Usage - cache
}

var _ target.ResourceSampler = (*Target)(nil)

// CPULimits returns each container's CPU allowance in percent of one core
// (100 = one core), read from Docker each call so a limit changed from outside
// (`docker update --cpus`) shows; containers without a limit are left out.
func (t *Target) CPULimits(ctx context.Context) (map[string]float64, error) {
	out := map[string]float64{}
	var errs []error
	for _, m := range t.snapshot() {
		info, err := m.c.Inspect(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("inspect %s: %w", m.name, err))
			continue
		}
		if info.HostConfig == nil {
			continue
		}
		hc := info.HostConfig
		switch {
		case hc.NanoCPUs > 0:
			out[m.name] = float64(hc.NanoCPUs) / 1e7
		case hc.CPUQuota > 0 && hc.CPUPeriod > 0:
			out[m.name] = 100 * float64(hc.CPUQuota) / float64(hc.CPUPeriod)
		}
	}
	return out, errors.Join(errs...)
}
