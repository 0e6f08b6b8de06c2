package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/citybench/citybench/harness"
	"github.com/citybench/citybench/harness/limits"
	"github.com/citybench/citybench/harness/merge"
	"github.com/citybench/citybench/harness/schedule"
	"github.com/citybench/citybench/harness/target"
	"github.com/citybench/citybench/pipeline/service"
	"github.com/citybench/citybench/reports/result"
	"github.com/citybench/citybench/scenarios"
	"github.com/citybench/citybench/testcontainers"
	"github.com/citybench/citybench/testcontainers/external"
)

// segmentDevices is how many of sc's devices segment seg holds.
func segmentDevices(sc *scenarios.Scenario, seg schedule.Segment) int {
	n := 0
	for _, f := range sc.Fleets {
		n += seg.Count(f.Devices)
	}
	return n
}

func isEmbedded(sc *scenarios.Scenario) bool {
	return sc.Target.Kind == "" || sc.Target.Kind == "embedded"
}

// checkCapacity is the open-file and port preflight: it refuses, before
// anything starts, a process that would hold more devices than this machine
// lets it. (The embedded target's whole runs are sized by workerCount.)
func checkCapacity(sc *scenarios.Scenario, seg schedule.Segment, m limits.Machine) error {
	devices := segmentDevices(sc, seg)
	if sc.Target.Kind == "containers" {
		// The broker tier holds every device of the run, whatever the processes.
		if err := testcontainers.CheckBrokers(sc); err != nil {
			return err
		}
	}
	if isEmbedded(sc) && !seg.IsWhole() {
		return m.Check(devices, limits.FilesPerEmbeddedDevice, "split the run into more segments")
	}
	if sc.Target.Kind == "external" {
		// Ports to a remote broker address are shared by every process on this
		// machine, so the whole run's devices count when it runs here as workers.
		here := devices
		if seg.IsWhole() {
			here = sc.Devices()
		}
		brokers := external.ConfigFromEnv(os.Getenv).MQTTURLs
		if can := m.PortDevices(brokers); len(brokers) > 0 && here > can {
			return fmt.Errorf("%d devices from this machine, but its %d ephemeral ports per source address allow %d connections to %d broker address(es) — give more broker URLs in %s, or run segments (--segment i/n) on more machines",
				here, m.PortsPerAddr, can, len(brokers), service.EnvMQTTURL)
		}
	}
	if !seg.IsWhole() && !isEmbedded(sc) {
		need := (sc.Devices() + m.Devices(limits.FilesPerDevice) - 1) / max(m.Devices(limits.FilesPerDevice), 1)
		return m.Check(devices, limits.FilesPerDevice, fmt.Sprintf("split the run into at least %d segments", need))
	}
	return nil
}

// workerCount says how many worker processes a run uses on a machine with m's
// limits: the number asked for, or as many as the devices need (1: run in this
// process).
func workerCount(sc *scenarios.Scenario, seg schedule.Segment, asked int, m limits.Machine) (int, error) {
	if err := checkCapacity(sc, seg, m); err != nil {
		return 0, err
	}
	if !seg.IsWhole() {
		return 1, nil
	}
	perProcess := max(m.Devices(limits.FilesPerDevice), 1)
	need := (sc.Devices() + perProcess - 1) / perProcess
	if isEmbedded(sc) {
		// In one process the embedded broker and the devices hold both ends of
		// every connection. Above that, the broker's ends stay in this process
		// (the coordinator) and the devices move to workers.
		if asked <= 1 && sc.Devices() <= m.Devices(limits.FilesPerEmbeddedDevice) {
			return 1, nil
		}
		if err := m.Check(sc.Devices(), limits.FilesPerDevice, "the embedded broker holds one socket per device in one process whatever the workers — run it with --target containers"); err != nil {
			return 0, fmt.Errorf("embedded target: %w", err)
		}
		need = max(need, 2)
		if asked == 1 {
			return 0, fmt.Errorf("--workers 1: one process holds %d devices on the embedded target (both ends of every connection); %d need the devices in worker processes — leave --workers out, or give %d or more",
				m.Devices(limits.FilesPerEmbeddedDevice), sc.Devices(), need)
		}
	}
	if max(asked, need) > 1 && sc.Target.Security == "tls" {
		return 0, fmt.Errorf("%d devices need %d worker processes, and workers with security: tls are not supported yet (they would need the run's client certificates) — run without tls, or split the run with --segment on the external target", sc.Devices(), max(asked, need))
	}
	if asked == 0 {
		return need, nil
	}
	if asked < need {
		return 0, fmt.Errorf("--workers %d: %d devices over %d workers is %d each, but one process can hold %d (open-file limit %d, %d kept for taps and files) — use --workers %d or more",
			asked, sc.Devices(), asked, (sc.Devices()+asked-1)/asked, perProcess, m.OpenFiles, limits.Reserved, need)
	}
	return asked, nil
}

// coordination is a run split over worker processes of this binary: the
// coordinator brings up one pipeline, starts every worker against its endpoints
// (as the external target), gives them one start time once all are connected,
// adds their progress up into one line and merges their results.
type coordination struct {
	path     string
	flags    runFlags
	sc       *scenarios.Scenario
	target   target.Target
	workers  int
	out      string
	log      *slog.Logger
	progress io.Writer
	stderr   io.Writer // where the workers' own log lines go
	faults   []harness.Fault
}

// readyLine is what a worker prints once its devices are connected; it then
// reads offset 0's time (RFC 3339) from its standard input.
type readyLine struct {
	Ready int `json:"ready"` // devices connected
}

func coordinate(ctx context.Context, c coordination) (*result.Result, error) {
	began := time.Now()
	c.log.Info("starting target", "kind", c.target.Describe().Kind, "workers", c.workers)
	eps, err := c.target.Start(ctx)
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		if err := c.target.Stop(stopCtx); err != nil {
			c.log.Error("stop target", "err", err)
		}
	}()
	if err != nil {
		return nil, fmt.Errorf("start target: %w", err)
	}
	env, storeHere, err := attachEnv(c.target, eps)
	if err != nil {
		return nil, err
	}
	ws, err := c.startWorkers(ctx, env)
	if err != nil {
		return nil, err
	}
	connecting := time.Now()
	if err := awaitReady(ctx, ws); err != nil {
		stopWorkers(ws)
		return nil, err
	}
	c.log.Info("every worker connected its devices", "devices", c.sc.Devices(), "workers", len(ws), "took", time.Since(connecting).Round(time.Millisecond))
	startAt := time.Now().Add(500 * time.Millisecond)
	for _, w := range ws {
		fmt.Fprintln(w.stdin, startAt.Format(time.RFC3339Nano))
	}
	stopSampling := harness.SampleResources(ctx, c.target, startAt, c.log)
	c.showProgress(ws, startAt)
	resources := stopSampling()
	res, err := mergeWorkers(ws)
	if err != nil {
		return nil, err
	}
	if storeHere {
		if err := c.readBackStore(ctx, res, eps, startAt); err != nil {
			return nil, err
		}
	}
	res.Meta.StartedAt, res.Meta.EndedAt = began.UTC(), time.Now().UTC()
	c.describeTarget(ctx, res, resources)
	if ctx.Err() != nil {
		return res, harness.ErrInterrupted
	}
	return res, nil
}

// mergeWorkers merges the results the workers wrote; a worker without one fails
// the run with what it said last.
func mergeWorkers(ws []*worker) (*result.Result, error) {
	var parts []*result.Result
	var errs []error
	for _, w := range ws {
		r, err := result.Load(filepath.Join(w.dir, "result.json"))
		if err != nil {
			errs = append(errs, fmt.Errorf("worker %s (%v) wrote no result: %w%s", w.seg, w.exitErr, err, w.lastLines()))
			continue
		}
		parts = append(parts, r)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return merge.Results(parts)
}

// describeTarget puts what the coordinator knows into a merged result: the
// target it ran, its components and counters, and its own resource samples.
func (c coordination) describeTarget(ctx context.Context, res *result.Result, resources []result.ResourceSample) {
	res.Meta.Target = c.target.Describe()
	if res.Meta.Target.Kind == "embedded" {
		if !res.HasFlag(result.FlagEmbedded) {
			res.Flags = append(res.Flags, result.FlagEmbedded)
		}
		res.Meta.Target.Note += fmt.Sprintf("; in this run the devices and their taps ran in %d worker processes, the pipeline and the store read-back in the coordinator", c.workers)
	}
	res.Meta.Components = harness.DependencyVersions()
	for k, v := range c.target.Components() {
		res.Meta.Components[k] = v
	}
	for k, v := range c.target.Counters(context.WithoutCancel(ctx)) {
		res.Counters[k] += v
	}
	for _, r := range resources {
		if strings.HasPrefix(r.Component, harness.HarnessComponent) {
			r.Component = "coordinator (no devices)"
			if res.Meta.Target.Kind == "embedded" {
				r.Component = "coordinator: embedded pipeline (no devices)"
			}
		}
		res.Resources = append(res.Resources, r)
	}
}

// attachEnv is the environment that points a worker's external target at the
// pipeline this process started. storeHere is true when the store is reachable
// only from this process (the embedded pipeline's memory store): the workers
// then leave the store stage to the coordinator.
func attachEnv(t target.Target, eps target.Endpoints) (env []string, storeHere bool, err error) {
	if ext, ok := t.(*external.Target); ok {
		return ext.Config().Env(), false, nil
	}
	if eps.TLS != nil {
		return nil, false, errors.New("--workers with security: tls is not supported yet: the workers would need the run's client certificates")
	}
	cfg := external.Config{MQTTURLs: eps.MQTTURLs, MQTTUsername: eps.MQTTUsername, MQTTPassword: eps.MQTTPassword,
		KafkaBrokers: eps.KafkaBrokers, KafkaTopic: eps.KafkaTopic, APIURL: eps.APIURL}
	if eps.Store != nil {
		if h, ok := t.(interface{ CassandraHosts() []string }); ok {
			cfg.CassandraHosts = h.CassandraHosts()
		} else {
			storeHere = true
		}
	}
	return cfg.Env(), storeHere, nil
}

// readBackStore adds the store stage the workers could not measure: this
// process reads every planned row back from the store it holds, and the SLOs
// are judged again with it.
func (c coordination) readBackStore(ctx context.Context, res *result.Result, eps target.Endpoints, startAt time.Time) error {
	until := time.Duration((res.Meta.MeasuredFromS + res.Meta.DurationS) * float64(time.Second))
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.sc.Drain.D())
	defer cancel()
	c.log.Info("reading the store back", "devices", c.sc.Devices())
	ss, err := harness.ReadBackStore(rctx, c.sc, eps.Store, startAt, until)
	if err != nil {
		return fmt.Errorf("store read-back: %w", err)
	}
	ss.Apply(res)
	if err := merge.JudgeSLOs(res); err != nil {
		res.Warnings = append(res.Warnings, fmt.Sprintf("SLOs not judged: %v", err))
	}
	return nil
}

// worker is one worker process and what it has said.
type worker struct {
	seg   schedule.Segment
	dir   string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	ready chan struct{}
	done  chan struct{}

	mu       sync.Mutex
	progress harness.Progress
	tail     []string
	exitErr  error
}

func (c coordination) startWorkers(ctx context.Context, env []string) ([]*worker, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find this binary to start workers: %w", err)
	}
	var ws []*worker
	for i := range c.workers {
		seg := schedule.Segment{I: i, N: c.workers}
		w := &worker{seg: seg, dir: filepath.Join(c.out, "segments", strconv.Itoa(i)), ready: make(chan struct{}), done: make(chan struct{})}
		args := []string{"run", c.path, "--target", "external", "--segment", seg.String(), "--start-at", "-",
			"--out", w.dir, "--no-report", "--quiet", "--progress-json"}
		if c.flags.seed != 0 {
			args = append(args, "--seed", strconv.FormatInt(c.flags.seed, 10))
		}
		w.cmd = exec.CommandContext(ctx, exe, args...)
		w.cmd.Env = append(os.Environ(), env...)
		// Ctrl-C reaches the workers through the terminal; a cancelled context
		// asks them the same way, so they drain and write partial results.
		w.cmd.Cancel = func() error { return w.cmd.Process.Signal(os.Interrupt) }
		w.cmd.WaitDelay = c.sc.Drain.D() + 2*time.Minute
		if w.stdin, err = w.cmd.StdinPipe(); err != nil {
			return nil, err
		}
		stderr, err := w.cmd.StderrPipe()
		if err != nil {
			return nil, err
		}
		w.cmd.Stdout = io.Discard // the worker's own summary; the merged one is printed
		if err := w.cmd.Start(); err != nil {
			stopWorkers(ws)
			return nil, fmt.Errorf("start worker %s: %w", seg, err)
		}
		go w.read(stderr, c.stderr)
		go func() {
			err := w.cmd.Wait()
			w.mu.Lock()
			w.exitErr = err
			w.mu.Unlock()
			close(w.done)
		}()
		ws = append(ws, w)
	}
	c.log.Info("workers started", "workers", len(ws), "devices_each", segmentDevices(c.sc, schedule.Segment{I: 0, N: c.workers}))
	return ws, nil
}

// read follows a worker's standard error: progress and ready lines are
// machine-readable, everything else is its log, passed on with its segment.
func (w *worker) read(r io.Reader, logTo io.Writer) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	readyOnce := sync.OnceFunc(func() { close(w.ready) })
	for sc.Scan() {
		line := sc.Text()
		var p harness.Progress
		var rl readyLine
		switch {
		case strings.HasPrefix(line, `{"ready"`) && json.Unmarshal([]byte(line), &rl) == nil:
			readyOnce()
		case strings.HasPrefix(line, `{"elapsed_s"`) && json.Unmarshal([]byte(line), &p) == nil:
			w.mu.Lock()
			w.progress = p
			w.mu.Unlock()
		default:
			w.mu.Lock()
			w.tail = append(w.tail, line)
			if len(w.tail) > 10 {
				w.tail = w.tail[1:]
			}
			w.mu.Unlock()
			if logTo != nil {
				fmt.Fprintf(logTo, "worker %s: %s\n", w.seg, line)
			}
		}
	}
}

func (w *worker) lastLines() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.tail) == 0 {
		return ""
	}
	return "; its last lines:\n  " + strings.Join(w.tail, "\n  ")
}

// awaitReady waits until every worker has connected its devices; a worker that
// exits first fails the run with what it said.
func awaitReady(ctx context.Context, ws []*worker) error {
	for _, w := range ws {
		select {
		case <-w.ready:
		case <-w.done:
			return fmt.Errorf("worker %s exited before its devices connected (%v)%s", w.seg, w.exitErr, w.lastLines())
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func stopWorkers(ws []*worker) {
	for _, w := range ws {
		_ = w.cmd.Process.Signal(os.Interrupt)
	}
	for _, w := range ws {
		<-w.done
	}
}

// showProgress prints one line a second with every worker's counts added up,
// until all workers have exited.
func (c coordination) showProgress(ws []*worker, startAt time.Time) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var prev harness.Progress
	for {
		running := 0
		for _, w := range ws {
			select {
			case <-w.done:
			default:
				running++
			}
		}
		if running == 0 {
			return
		}
		<-tick.C
		var sum harness.Progress
		for _, w := range ws {
			w.mu.Lock()
			sum = sum.Add(w.progress)
			w.mu.Unlock()
		}
		if c.progress != nil && time.Now().After(startAt) {
			fmt.Fprintf(c.progress, "[%5s/%s] offered %5d/s  sent %5d/s  acked %5d/s  kafka %5d/s  conns %d  errors %d  workers %d/%d running\n",
				time.Since(startAt).Round(time.Second), c.sc.Total(), sum.Offered-prev.Offered, sum.Sent-prev.Sent, sum.Acked-prev.Acked,
				sum.Kafka-prev.Kafka, sum.Connections, sum.Errors, running, len(ws))
		}
		prev = sum
	}
}

// waitForStart is a worker's side of the shared start: say the devices are
// connected, then read offset 0's time from standard input.
func waitForStart(in io.Reader, out io.Writer) func(ctx context.Context, devices int) (time.Time, error) {
	return func(ctx context.Context, devices int) (time.Time, error) {
		b, _ := json.Marshal(readyLine{Ready: devices})
		fmt.Fprintf(out, "%s\n", b)
		line := make(chan string, 1)
		go func() {
			s, _ := bufio.NewReader(in).ReadString('\n')
			line <- strings.TrimSpace(s)
		}()
		select {
		case s := <-line:
			at, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return time.Time{}, fmt.Errorf("start time from the coordinator %q: %w", s, err)
			}
			return at, nil
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		}
	}
}
