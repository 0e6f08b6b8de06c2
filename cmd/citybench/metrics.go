package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/citybench/citybench/harness"
	"github.com/citybench/citybench/harness/metrics"
	"github.com/citybench/citybench/scenarios"
)

// serveMetrics starts the --metrics-listen endpoint before the run, so a busy
// port fails at once; the returned stop closes it after the run (no-op when
// the flag is not set).
func serveMetrics(addr string, sc *scenarios.Scenario, workers int, log *slog.Logger) (harness.LiveSink, func(), error) {
	if addr == "" {
		return nil, func() {}, nil
	}
	if workers > 1 {
		return nil, nil, fmt.Errorf("--metrics-listen with %d worker processes is not supported yet: each worker has its own progress; run in one process (--workers 1) or scrape the workers' coordinator later", workers)
	}
	e, err := metrics.Listen(addr, metrics.Info{Scenario: sc.Name, Target: sc.Target.Kind})
	if err != nil {
		return nil, nil, fmt.Errorf("--metrics-listen %s: %w", addr, err)
	}
	log.Info("serving live metrics", "url", "http://"+e.Addr()+metrics.Path)
	return e, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := e.Close(ctx); err != nil {
			log.Warn("metrics endpoint", "err", err)
		}
	}, nil
}
