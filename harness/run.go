// Package harness runs a scenario against a target: it plans the load, starts the
// taps, plays the devices open-loop, drains, reads back the store and turns the
// ledger into a result. Rendering the result is someone else's job.
package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/citybench/citybench/harness/devices"
	"github.com/citybench/citybench/harness/ledger"
	"github.com/citybench/citybench/harness/limits"
	"github.com/citybench/citybench/harness/malformed"
	"github.com/citybench/citybench/harness/recovery"
	"github.com/citybench/citybench/harness/schedule"
	"github.com/citybench/citybench/harness/slo"
	"github.com/citybench/citybench/harness/taps"
	"github.com/citybench/citybench/harness/target"
	"github.com/citybench/citybench/reports/result"
	"github.com/citybench/citybench/scenarios"
)

// Options configure a run.
type Options struct {
	Target target.Target
	Logger *slog.Logger
	// Progress receives a live status line each second (nil: none).
	Progress io.Writer
	// Faults are applied at their offsets during load.
	Faults []Fault
	// Trace, when set, receives up to TraceSamples message traces after the run (for tests and debugging).
	TraceSamples int
	Trace        func([]ledger.SampleTrace)
	// Segment is the slice of the scenario's devices to run (zero value: all).
	Segment schedule.Segment
	// StartAt, when set, is the wall-clock time of offset 0 — shared by the
	// worker processes of one run so their time lines line up. It must lie after
	// the devices have connected; a StartAt already past starts at once (the
	// result then shows the lateness as generator lag).
	StartAt time.Time
	// Ready, when set, is called once the devices are connected and the taps
	// run, and returns offset 0's wall-clock time: how a worker process waits for
	// its coordinator's shared start. It overrides StartAt.
	Ready func(ctx context.Context, devices int) (time.Time, error)
	// ProgressJSON writes the live progress as one JSON object a second
	// (cumulative counts), for a coordinator to add up.
	ProgressJSON bool
}

// apiPollInterval is how often the API tap polls each sampled device; the api
// stage's latency includes up to one interval.
const apiPollInterval = 250 * time.Millisecond

// storeReadBackPoll is the pause between store read-back passes while rows are missing.
const storeReadBackPoll = 200 * time.Millisecond

// ErrInterrupted marks a result cut short by its context; the result is still returned.
var ErrInterrupted = errors.New("run interrupted: partial result")

// Run executes sc. On interruption (ctx cancelled after load started) it drains
// with the scenario's deadline and returns a partial result together with
// ErrInterrupted. Any other error means no result.
func Run(ctx context.Context, sc *scenarios.Scenario, opts Options) (*result.Result, error) {
	r, err := newRun(sc, opts)
	if err != nil {
		return nil, err
	}
	eps, err := r.startTarget(ctx)
	defer r.stopTarget(ctx)
	if err != nil {
		return nil, err
	}
	if err := r.connectDevices(ctx, eps); err != nil {
		return nil, err
	}
	defer r.sim.Disconnect(250 * time.Millisecond)
	tapSet, err := r.taps(eps)
	if err != nil {
		return nil, err
	}
	if err := r.startTaps(ctx, tapSet); err != nil {
		return nil, err
	}
	if err := r.fixStart(ctx); err != nil {
		return nil, err
	}
	load := r.playLoad(ctx)
	reports := drainTaps(context.WithoutCancel(ctx), tapSet, load.until, r.sc.Drain.D())
	res, err := r.result(ctx, eps, load, reports)
	if err != nil {
		return nil, err
	}
	if load.interrupted {
		return res, ErrInterrupted
	}
	return res, nil
}

// run is one Run's state, passed between its steps.
type run struct {
	sc      *scenarios.Scenario
	opts    Options
	seg     schedule.Segment
	log     *slog.Logger
	plan    *schedule.Plan
	led     *ledger.Ledger
	sampled []int // devices the API tap polls
	sim     *devices.Simulator
	started time.Time
	// book records the malformed messages sent and their dead letters (nil: the plan sends none).
	book *malformed.Book
}

func newRun(sc *scenarios.Scenario, opts Options) (*run, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	seg := opts.Segment
	if seg.N == 0 {
		seg = schedule.Whole
	}
	plan, err := schedule.BuildSegment(sc, seg)
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	r := &run{sc: sc, opts: opts, seg: seg, log: log, plan: plan, led: ledger.New(plan), sampled: apiSample(plan, sc.APISample), started: time.Now()}
	if plan.MalformedCount() > 0 {
		r.book = malformed.NewBook()
	}
	return r, nil
}

func (r *run) startTarget(ctx context.Context) (target.Endpoints, error) {
	r.log.Info("starting target", "kind", r.opts.Target.Describe().Kind)
	eps, err := r.opts.Target.Start(ctx)
	if err != nil {
		return eps, fmt.Errorf("start target: %w", err)
	}
	return eps, nil
}

// stopTarget tears the target down even when ctx has ended (Ctrl-C must not leave containers behind).
func (r *run) stopTarget(ctx context.Context) {
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	if err := r.opts.Target.Stop(stopCtx); err != nil {
		r.log.Error("stop target", "err", err)
	}
}

func (r *run) connectDevices(ctx context.Context, eps target.Endpoints) error {
	machine, err := limits.Read()
	if err != nil {
		return err
	}
	sim, err := devices.New(devices.Broker{URLs: eps.MQTTURLs, Username: eps.MQTTUsername, Password: eps.MQTTPassword, TLS: eps.TLS}, r.led,
		devices.WithLogger(r.log), devices.WithSourceAddrs(machine.SourceAddrs(len(r.plan.Devices))), devices.WithMalformedBook(r.book))
	if err != nil {
		return err
	}
	r.log.Info("connecting devices", "devices", len(r.plan.Devices), "messages", r.plan.Count())
	if err := sim.Connect(ctx); err != nil {
		sim.Disconnect(0)
		return fmt.Errorf("connect devices: %w", err)
	}
	r.sim = sim
	return nil
}

// taps lists the taps for the stages the target exposes, in pipeline order. A
// target may leave a stage unmeasured (an external pipeline whose Kafka or store
// the harness cannot reach); that stage then expects nothing.
func (r *run) taps(eps target.Endpoints) ([]taps.Tap, error) {
	out := []taps.Tap{r.brokerTap(eps)}
	if len(eps.KafkaBrokers) > 0 {
		cfg, err := kafkaTapConfig(eps)
		if err != nil {
			return nil, err
		}
		out = append(out, taps.NewKafka(cfg))
		if r.book != nil && eps.KafkaDeadLetterTopic != "" {
			cfg.Topic = eps.KafkaDeadLetterTopic
			out = append(out, taps.NewDeadLetter(cfg, r.book))
		}
	}
	if eps.Store != nil {
		out = append(out, taps.NewStore(eps.Store, storeReadBackPoll))
	}
	if eps.APIURL != "" {
		out = append(out, taps.NewAPI(taps.APIConfig{BaseURL: eps.APIURL, Devices: r.sampled, Interval: apiPollInterval}))
	}
	return out, nil
}

// kafkaTapConfig is how the Kafka tap reaches the target's Kafka: its one
// Dialer carries the endpoints' TLS and SASL.
func kafkaTapConfig(eps target.Endpoints) (taps.KafkaConfig, error) {
	d, err := eps.KafkaDialer()
	if err != nil {
		return taps.KafkaConfig{}, err
	}
	return taps.KafkaConfig{Brokers: eps.KafkaBrokers, Topic: eps.KafkaTopic, Dialer: d}, nil
}

// startTaps starts every tap before any load, so each sees the run from its
// first message; on failure the taps already started are stopped.
func (r *run) startTaps(ctx context.Context, ts []taps.Tap) error {
	env := taps.Env{Plan: r.plan, Rec: r.led}
	for i, t := range ts {
		if err := t.Start(ctx, env); err != nil {
			done, cancel := context.WithCancel(context.WithoutCancel(ctx))
			cancel()
			for _, started := range ts[:i] {
				started.Stop(done, 0)
			}
			return err
		}
	}
	return nil
}

// load is what playing the plan produced besides the ledger's observations.
type load struct {
	until       time.Duration // offset past which nothing was offered
	interrupted bool
	faults      []result.FaultEvent
	// observe stops the monitor and the resource sampler, which run on through the drain.
	observe func() (conns []int64, resources []result.ResourceSample)
}

// fixStart fixes the wall-clock time of offset 0: a coordinator's shared start
// for a worker, else a moment from now, so the first intended sends are not already late.
func (r *run) fixStart(ctx context.Context) error {
	switch {
	case r.opts.Ready != nil:
		at, err := r.opts.Ready(ctx, len(r.plan.Devices))
		if err != nil {
			return fmt.Errorf("wait for the shared start: %w", err)
		}
		r.led.SetStart(at)
	case r.opts.StartAt.IsZero():
		r.led.SetStart(time.Now().Add(300 * time.Millisecond))
	default:
		r.led.SetStart(r.opts.StartAt)
	}
	return nil
}

// playLoad plays the devices — open-loop, or closed-loop for burst fleets — with
// the monitor, resource sampling and faults running beside them, and returns when
// load has ended (or ctx did). A closed-loop run's load ends when its last burst
// finished, not at the scenario's bound.
func (r *run) playLoad(ctx context.Context) *load {
	mon := startMonitor(r.led, r.sim, r.plan, r.opts.Progress, r.opts.ProgressJSON)
	resources := sampleResources(ctx, r.opts.Target, r.led.Start(), r.log)
	faultEvents, stopFaults := runFaults(ctx, r.led, r.opts.Faults, r.log)

	out := &load{until: r.plan.End}
	r.sim.Run(ctx, r.plan.End, r.sc.Drain.D())
	if ctx.Err() != nil {
		out.interrupted = true
		out.until = min(time.Since(r.led.Start()), r.plan.End)
		r.log.Warn("interrupted: load stopped, draining", "at", out.until.Round(time.Millisecond), "drain", r.sc.Drain.D())
	}
	stopFaults()
	out.until = burstUntil(r.plan, r.led, out.until)
	out.faults = faultEvents()
	out.observe = func() ([]int64, []result.ResourceSample) { return mon.stop(), resources() }
	return out
}

// drainTaps gives the pipeline until the drain deadline to pass on what was sent:
// every tap stops concurrently once it has caught up (or the deadline passed), a
// tap that follows another stage only after that stage's tap.
func drainTaps(ctx context.Context, ts []taps.Tap, until, deadline time.Duration) []taps.Report {
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	done := make(map[ledger.Stage]*sync.WaitGroup, len(ts)) // per stage: its taps still running (the dead-letter tap shares kafka)
	for _, t := range ts {
		if done[t.Stage()] == nil {
			done[t.Stage()] = &sync.WaitGroup{}
		}
		done[t.Stage()].Add(1)
	}
	reports := make([]taps.Report, len(ts))
	var wg sync.WaitGroup
	for i, t := range ts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer done[t.Stage()].Done()
			if f, ok := t.(taps.Follower); ok {
				if w, ok := done[f.Follows()]; ok {
					w.Wait()
				}
			}
			reports[i] = t.Stop(ctx, until)
		}()
	}
	wg.Wait()
	return reports
}

// result turns the ledger and the taps' reports into the run's result.
func (r *run) result(ctx context.Context, eps target.Endpoints, ld *load, reports []taps.Report) (*result.Result, error) {
	conns, resources := ld.observe()
	ended := time.Now()
	tapLate := r.led.Settle()
	sum, err := r.led.Summarise(ledger.Window{From: r.plan.Warmup, Until: ld.until, Deadline: r.sc.AvailabilityDeadline.D(),
		Expect: expectFunc(r.plan, r.sampled, eps), Connections: conns, Unverified: unverifiedFunc(reports),
		SeriesUntil: seriesUntil(len(r.opts.Faults) > 0 || r.sc.HasReconnect(), time.Since(r.led.Start())), ClosedLoop: r.plan.ClosedLoop()})
	if err != nil {
		return nil, err
	}
	res := &result.Result{
		SchemaVersion:   result.SchemaVersion,
		Meta:            meta(r.sc, r.plan, r.opts.Target, r.started, ended),
		Phases:          phases(r.plan),
		Intervals:       sum.Intervals,
		Stages:          sum.Stages,
		GeneratorLag:    sum.GeneratorLag,
		GeneratorLagHDR: sum.GeneratorLagHDR,
		Faults:          ld.faults,
		Resources:       resources,
		Counters:        map[string]int64{},
	}
	r.describe(ctx, res, ld)
	for s := range ledger.NumStages {
		if n := r.led.Unknown(s); n > 0 {
			res.Counters["unknown_"+s.String()] = n
		}
		if tapLate[s] > 0 {
			res.Counters["tap_late_"+s.String()] = tapLate[s]
		}
	}
	res.Counters["errors"] = r.led.Errors()
	addTapReports(res, reports)
	r.badInput(res, eps)
	addDeviceReports(res, r.sim)
	if api := res.Stage(result.StageAPI); api != nil {
		api.Note = fmt.Sprintf("%d sampled devices polled every %s: latency includes up to one polling interval", len(r.sampled), apiPollInterval)
	}
	recovery.Analyse(res, r.sc.AvailabilityDeadline.D())
	if slos, err := r.sc.ParseSLOs(); err != nil {
		res.Warnings = append(res.Warnings, fmt.Sprintf("SLOs not judged: %v", err))
	} else {
		res.SLOs = slo.Evaluate(slos, res)
	}
	if r.opts.Trace != nil {
		r.opts.Trace(r.led.Traces(r.opts.TraceSamples))
	}
	return res, nil
}

// describe adds what ran — target, components, flags and the target's counters.
func (r *run) describe(ctx context.Context, res *result.Result, ld *load) {
	res.Meta.Target = r.opts.Target.Describe()
	res.Meta.OffsetZero = r.led.Start().UTC()
	if !r.seg.IsWhole() {
		res.Meta.Segment = r.seg.String()
	}
	res.Meta.Components = DependencyVersions()
	for k, v := range r.opts.Target.Components() {
		res.Meta.Components[k] = v
	}
	if res.Meta.Target.Kind == "embedded" {
		res.Flags = append(res.Flags, result.FlagEmbedded)
	}
	markClosedLoop(res, r.plan, ld.until)
	if ld.interrupted {
		res.Meta.DurationS = max(0, (ld.until - r.plan.Warmup).Seconds())
		res.Flags = append(res.Flags, result.FlagPartial)
		res.Warnings = append(res.Warnings, fmt.Sprintf("interrupted after %s of %s: figures cover only messages intended before then", ld.until.Round(time.Second), r.plan.End))
	}
	if bound, lag := r.sc.GeneratorLagBound.D(), time.Duration(res.GeneratorLag.P99Us)*time.Microsecond; lag > bound {
		res.Flags = append(res.Flags, result.FlagGeneratorSaturated)
		res.Warnings = append(res.Warnings, fmt.Sprintf("generator lag p99 %s exceeds %s: the load generator, not the system, was saturated — latency figures are not trustworthy", lag, bound))
	}
	for k, v := range r.opts.Target.Counters(context.WithoutCancel(ctx)) {
		res.Counters[k] = v
	}
}

// addTapReports adds the taps' outages, warnings and counters to res.
func addTapReports(res *result.Result, reports []taps.Report) {
	for _, rep := range reports {
		res.TapOutages = append(res.TapOutages, rep.Outages...)
		res.Warnings = append(res.Warnings, rep.Warnings...)
		for k, v := range rep.Counters {
			res.Counters[k] = v
		}
		if n := len(rep.Outages); n > 0 {
			res.Warnings = append(res.Warnings, fmt.Sprintf("%s tap unavailable %d time(s) (%s): its own outage, not the pipeline's loss", rep.Stage, n, rep.Outages[0].Reason))
		}
	}
	sort.SliceStable(res.TapOutages, func(i, j int) bool { return res.TapOutages[i].FromS < res.TapOutages[j].FromS })
}

// unverifiedFunc says, per stage, which unseen messages its tap could not check.
func unverifiedFunc(reports []taps.Report) func(ledger.Stage, int, time.Duration) bool {
	var by [ledger.NumStages]func(int, time.Duration) bool
	for _, rep := range reports {
		if rep.Unverified != nil {
			by[rep.Stage] = rep.Unverified
		}
	}
	return func(s ledger.Stage, dev int, at time.Duration) bool {
		return by[s] != nil && by[s](dev, at)
	}
}

func maxQoS(sc *scenarios.Scenario) byte {
	q := 0
	for _, f := range sc.Fleets {
		q = max(q, f.QoS)
	}
	return byte(q)
}

// apiSample picks every k-th device of the whole scenario so the sample spans
// every fleet; a segment polls the sampled devices it holds, so the segments of
// a run poll the same devices as the whole run.
func apiSample(plan *schedule.Plan, fraction float64) []int {
	if fraction <= 0 || len(plan.Devices) == 0 {
		return nil
	}
	step := max(int(1/fraction), 1)
	var out []int
	for _, d := range plan.Devices {
		if d.Global%step == 0 {
			out = append(out, d.Index)
		}
	}
	return out
}

func expectFunc(plan *schedule.Plan, sampled []int, eps target.Endpoints) func(ledger.Stage, int) bool {
	inSample := make(map[int]bool, len(sampled))
	for _, d := range sampled {
		inSample[d] = true
	}
	return func(s ledger.Stage, dev int) bool {
		switch s {
		case ledger.Acked:
			return plan.Devices[dev].Fleet.QoS > 0
		case ledger.Kafka:
			return len(eps.KafkaBrokers) > 0
		case ledger.Store:
			return eps.Store != nil
		case ledger.API:
			return eps.APIURL != "" && inSample[dev]
		}
		return true
	}
}

func phases(plan *schedule.Plan) []result.Phase {
	var out []result.Phase
	if plan.Warmup > 0 {
		out = append(out, result.Phase{Name: "warm-up", StartS: 0, EndS: plan.Warmup.Seconds()})
	}
	for _, p := range plan.Phases {
		out = append(out, result.Phase{Name: p.Name, StartS: p.Start.Seconds(), EndS: p.End.Seconds()})
	}
	return out
}

// HarnessComponent names the harness process's own resource samples.
const HarnessComponent = "harness"

// SampleResources is sampleResources for a coordinator that runs the target
// itself while worker processes run the devices.
func SampleResources(ctx context.Context, t target.Target, origin time.Time, log *slog.Logger) func() []result.ResourceSample {
	return sampleResources(ctx, t, origin, log)
}

// sampleResources collects the target's per-component CPU and memory, plus the
// harness process's own, until the returned function is called. Targets that
// cannot sample (embedded: one process) contribute only the harness line.
func sampleResources(ctx context.Context, t target.Target, origin time.Time, log *slog.Logger) func() []result.ResourceSample {
	sctx, cancel := context.WithCancel(ctx)
	var mu sync.Mutex
	var out []result.ResourceSample
	var wg sync.WaitGroup
	add := func(s result.ResourceSample) {
		mu.Lock()
		out = append(out, s)
		mu.Unlock()
	}
	if rs, ok := t.(target.ResourceSampler); ok {
		ch, err := rs.SampleResources(sctx, origin)
		if err != nil {
			log.Warn("container resource sampling unavailable", "err", err)
		} else {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for s := range ch {
					add(s)
				}
			}()
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		self := newProcessSampler(HarnessComponent)
		if t.Describe().Kind == "embedded" {
			self = newProcessSampler("harness + embedded pipeline (one process)")
		}
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-sctx.Done():
				return
			case now := <-tick.C:
				if s, ok := self.sample(now, origin); ok {
					add(s)
				}
			}
		}
	}()
	return func() []result.ResourceSample {
		cancel()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		sort.SliceStable(out, func(i, j int) bool { return out[i].AtS < out[j].AtS })
		return out
	}
}
