// Package metrics serves a running benchmark's live figures as Prometheus
// metrics (`citybench run --metrics-listen`): the run's progress view, handed
// over once a second, becomes citybench_… series on /metrics. It reads only
// what the run's monitor already computes, so scraping adds nothing to the
// publish path.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/citybench/citybench/reports/result"
)

// Path is where the metrics are served.
const Path = "/metrics"

// Snapshot is one second of a run's progress: cumulative counts, and latency
// quantiles over the second that just ended.
type Snapshot struct {
	ElapsedS    float64 // since the run's offset 0
	PlannedS    float64 // the run's planned load time, warm-up included
	Offered     int64   // messages due so far
	Stages      []Stage // in pipeline order
	Connections int64   // device connections open
	Errors      int64   // publish and connect failures
	Commands    *Commands
}

// Stage is one stage's progress.
type Stage struct {
	Name      string
	Delivered int64 // distinct messages seen so far
	// Partial stages see only some of what was sent (the sampled API poll;
	// acks, when some fleet publishes at QoS 0), so their lag behind sent is not shown.
	Partial bool
	// LastSecond is the latency (observed − intended) of what the stage saw in
	// the last second; Count 0 when it saw nothing.
	LastSecond result.Quantiles
	// LatencyCount and LatencySumS add up every second's latencies so far: the
	// summary's _count and _sum.
	LatencyCount int64
	LatencySumS  float64
}

// Commands is the downlink's progress (nil: the run sends none).
type Commands struct {
	Planned, Sent, Delivered, Acked, Errors int64
}

// Info labels the run in citybench_run_info.
type Info struct {
	Scenario, Target string
}

// Exporter holds the latest snapshot and serves it.
type Exporter struct {
	info Info
	ln   net.Listener
	srv  *http.Server
	done chan error

	mu   sync.Mutex
	snap *Snapshot
}

// Listen binds addr (host:port; ":9464" listens on every interface) at once,
// so a port in use fails before the run starts, and serves /metrics until Close.
func Listen(addr string, info Info) (*Exporter, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics endpoint: %w", err) // the error names the address
	}
	e := &Exporter{info: info, ln: ln, done: make(chan error, 1)}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector{e}, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle(Path, promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	e.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		err := e.srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		e.done <- err
	}()
	return e, nil
}

// Addr is the address the exporter listens on (the port chosen for ":0").
func (e *Exporter) Addr() string { return e.ln.Addr().String() }

// Update replaces the snapshot the next scrape reads.
func (e *Exporter) Update(s Snapshot) {
	e.mu.Lock()
	e.snap = &s
	e.mu.Unlock()
}

func (e *Exporter) latest() *Snapshot {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.snap
}

// Close stops serving, letting scrapes in flight finish until ctx ends.
func (e *Exporter) Close(ctx context.Context) error {
	err := e.srv.Shutdown(ctx)
	if serveErr := <-e.done; err == nil {
		err = serveErr
	}
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}
