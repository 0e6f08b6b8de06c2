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
	"github.com/citybench/citybench/harness/schedule"
	"github.com/citybench/citybench/harness/slo"
	"github.com/citybench/citybench/harness/taps"
	"github.com/citybench/citybench/harness/target"
	"github.com/citybench/citybench/reports/result"
	"github.com/citybench/citybench/scenarios"
)

// Fault is an action on the system under test at a planned offset, recorded in
// the result (fault injection builds on this).
type Fault struct {
	At     time.Duration
	Kind   string
	Target string
	Detail string
	Do     func(ctx context.Context) error
}

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
}

// apiPollInterval is how often the API tap polls each sampled device; the api
// stage's latency includes up to one interval.
const apiPollInterval = 250 * time.Millisecond

// ErrInterrupted marks a result cut short by its context; the result is still returned.
var ErrInterrupted = errors.New("run interrupted: partial result")

// Run executes sc. On interruption (ctx cancelled after load started) it drains
// with the scenario's deadline and returns a partial result together with
// ErrInterrupted. Any other error means no result.
func Run(ctx context.Context, sc *scenarios.Scenario, opts Options) (*result.Result, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	plan, err := schedule.Build(sc)
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	led := ledger.New(plan)
	started := time.Now()

	log.Info("starting target", "kind", opts.Target.Describe().Kind)
	eps, err := opts.Target.Start(ctx)
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		if err := opts.Target.Stop(stopCtx); err != nil {
			log.Error("stop target", "err", err)
		}
	}()
	if err != nil {
		return nil, fmt.Errorf("start target: %w", err)
	}

	sim, err := devices.New(devices.Broker{URLs: eps.MQTTURLs, Username: eps.MQTTUsername, Password: eps.MQTTPassword, TLS: eps.TLS}, led, devices.WithLogger(log))
	if err != nil {
		return nil, err
	}
	log.Info("connecting devices", "devices", len(plan.Devices), "messages", plan.Count())
	if err := sim.Connect(ctx); err != nil {
		sim.Disconnect(0)
		return nil, fmt.Errorf("connect devices: %w", err)
	}
	defer sim.Disconnect(250 * time.Millisecond)

	brokerTap, err := taps.StartBroker(ctx, taps.BrokerConfig{URL: eps.MQTTURLs[0], Username: eps.MQTTUsername, Password: eps.MQTTPassword, TLS: eps.TLS, QoS: maxQoS(sc)}, led)
	if err != nil {
		return nil, err
	}
	defer brokerTap.Stop()
	// A target may leave a stage unmeasured (an external pipeline whose Kafka or
	// store the harness cannot reach); that stage then expects nothing.
	var kafkaTap *taps.Kafka
	if len(eps.KafkaBrokers) > 0 {
		if kafkaTap, err = taps.StartKafka(ctx, eps.KafkaBrokers, eps.KafkaTopic, led); err != nil {
			return nil, err
		}
		defer kafkaTap.Stop()
	}

	// Offset 0 is a moment from now, so the first intended sends are not already late.
	led.SetStart(time.Now().Add(300 * time.Millisecond))
	sampled := apiSample(plan, sc.APISample)
	var apiTap *taps.API
	if eps.APIURL != "" {
		apiTap = taps.StartAPI(ctx, taps.APIConfig{BaseURL: eps.APIURL, Devices: sampled, Interval: apiPollInterval}, led)
	}

	mon := startMonitor(led, sim, plan, opts.Progress)
	resources := sampleResources(ctx, opts.Target, led.Start(), log)
	faultEvents, stopFaults := runFaults(ctx, led, opts.Faults, log)

	until := plan.End
	sim.Run(ctx, plan.End, sc.Drain.D())
	interrupted := ctx.Err() != nil
	if interrupted {
		until = min(time.Since(led.Start()), plan.End)
		log.Warn("interrupted: load stopped, draining", "at", until.Round(time.Millisecond), "drain", sc.Drain.D())
	}
	stopFaults()
	until = burstUntil(plan, led, until)

	// Drain: give the pipeline until the deadline to pass on everything that was sent.
	drainCtx, cancelDrain := context.WithTimeout(context.WithoutCancel(ctx), sc.Drain.D())
	defer cancelDrain()
	var kafkaErr, readErr error
	var missing int
	if kafkaTap != nil {
		waitFor(drainCtx, func() bool { return led.Delivered(ledger.Kafka) >= led.Delivered(ledger.Sent) })
	}
	brokerTap.Stop()
	if kafkaTap != nil {
		kafkaErr = kafkaTap.Stop()
	}
	if eps.Store != nil {
		missing, readErr = taps.ReadBack(drainCtx, eps.Store, led, until, 200*time.Millisecond)
	}
	var apiFailures int
	var apiLast error
	if apiTap != nil {
		waitFor(drainCtx, func() bool { return apiCaughtUp(led, sampled, until) })
		apiFailures, apiLast = apiTap.Stop()
	}
	conns := mon.stop()
	samples := resources()
	ended := time.Now()
	tapLate := led.Settle()

	expect := expectFunc(plan, sampled, eps)
	sum, err := led.Summarise(ledger.Window{From: plan.Warmup, Until: until, Deadline: sc.AvailabilityDeadline.D(), Expect: expect, Connections: conns, ClosedLoop: plan.ClosedLoop()})
	if err != nil {
		return nil, err
	}
	res := &result.Result{
		SchemaVersion:   result.SchemaVersion,
		Meta:            meta(sc, plan, opts.Target, started, ended),
		Phases:          phases(plan),
		Intervals:       sum.Intervals,
		Stages:          sum.Stages,
		GeneratorLag:    sum.GeneratorLag,
		GeneratorLagHDR: sum.GeneratorLagHDR,
		Faults:          faultEvents(),
		Resources:       samples,
		Counters:        map[string]int64{},
	}
	res.Meta.Target = opts.Target.Describe()
	res.Meta.Components = DependencyVersions()
	for k, v := range opts.Target.Components() {
		res.Meta.Components[k] = v
	}
	if res.Meta.Target.Kind == "embedded" {
		res.Flags = append(res.Flags, result.FlagEmbedded)
	}
	markClosedLoop(res, plan, until)
	if interrupted {
		res.Meta.DurationS = max(0, (until - plan.Warmup).Seconds())
		res.Flags = append(res.Flags, result.FlagPartial)
		res.Warnings = append(res.Warnings, fmt.Sprintf("interrupted after %s of %s: figures cover only messages intended before then", until.Round(time.Second), plan.End))
	}
	if bound := sc.GeneratorLagBound.D(); time.Duration(sum.GeneratorLag.P99Us)*time.Microsecond > bound {
		res.Flags = append(res.Flags, result.FlagGeneratorSaturated)
		res.Warnings = append(res.Warnings, fmt.Sprintf("generator lag p99 %s exceeds %s: the load generator, not the system, was saturated — latency figures are not trustworthy", time.Duration(sum.GeneratorLag.P99Us)*time.Microsecond, bound))
	}
	for k, v := range opts.Target.Counters(context.WithoutCancel(ctx)) {
		res.Counters[k] = v
	}
	for s := range ledger.NumStages {
		if n := led.Unknown(s); n > 0 {
			res.Counters["unknown_"+s.String()] = n
		}
		if tapLate[s] > 0 {
			res.Counters["tap_late_"+s.String()] = tapLate[s]
		}
	}
	res.Counters["errors"] = led.Errors()
	if apiFailures > 0 {
		res.Counters["api_poll_failures"] = int64(apiFailures)
		res.Warnings = append(res.Warnings, fmt.Sprintf("%d API polls failed; last: %v", apiFailures, apiLast))
	}
	if kafkaErr != nil {
		res.Warnings = append(res.Warnings, kafkaErr.Error())
	}
	if readErr != nil {
		res.Warnings = append(res.Warnings, fmt.Sprintf("store read-back: %v", readErr))
	}
	if missing > 0 {
		res.Warnings = append(res.Warnings, fmt.Sprintf("%d messages were not in the store when the drain deadline (%s) passed", missing, sc.Drain.D()))
	}
	if api := res.Stage(result.StageAPI); api != nil {
		api.Note = fmt.Sprintf("%d sampled devices polled every %s: latency includes up to one polling interval", len(sampled), apiPollInterval)
	}
	if slos, err := sc.ParseSLOs(); err != nil {
		res.Warnings = append(res.Warnings, fmt.Sprintf("SLOs not judged: %v", err))
	} else {
		res.SLOs = slo.Evaluate(slos, res)
	}
	if opts.Trace != nil {
		opts.Trace(led.Traces(opts.TraceSamples))
	}
	if interrupted {
		return res, ErrInterrupted
	}
	return res, nil
}

func maxQoS(sc *scenarios.Scenario) byte {
	q := 0
	for _, f := range sc.Fleets {
		q = max(q, f.QoS)
	}
	return byte(q)
}

// apiSample picks every k-th device so the sample spans every fleet.
func apiSample(plan *schedule.Plan, fraction float64) []int {
	if fraction <= 0 || len(plan.Devices) == 0 {
		return nil
	}
	step := max(int(1/fraction), 1)
	var out []int
	for i := 0; i < len(plan.Devices); i += step {
		out = append(out, i)
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

func apiCaughtUp(l *ledger.Ledger, sampled []int, until time.Duration) bool {
	for _, dev := range sampled {
		for _, m := range l.Plan().Devices[dev].Messages {
			if m.At >= until {
				break
			}
			if l.Seen(ledger.Store, dev, m.Seq) && !l.Seen(ledger.API, dev, m.Seq) {
				return false
			}
		}
	}
	return true
}

func waitFor(ctx context.Context, done func() bool) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for !done() {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
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

func runFaults(ctx context.Context, l *ledger.Ledger, faults []Fault, log *slog.Logger) (events func() []result.FaultEvent, stop func()) {
	var mu sync.Mutex
	var out []result.FaultEvent
	fctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, f := range faults {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-time.After(time.Until(l.Start().Add(f.At))):
			case <-fctx.Done():
				return
			}
			at := time.Since(l.Start())
			err := f.Do(fctx)
			ev := result.FaultEvent{AtS: at.Seconds(), EndS: time.Since(l.Start()).Seconds(), Kind: f.Kind, Target: f.Target, Detail: f.Detail}
			if err != nil {
				ev.Detail += " (failed: " + err.Error() + ")"
				log.Error("fault", "kind", f.Kind, "err", err)
			}
			mu.Lock()
			out = append(out, ev)
			mu.Unlock()
		}()
	}
	return func() []result.FaultEvent {
			mu.Lock()
			defer mu.Unlock()
			sort.Slice(out, func(i, j int) bool { return out[i].AtS < out[j].AtS })
			return append([]result.FaultEvent(nil), out...)
		}, func() {
			cancel()
			wg.Wait()
		}
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
		self := newProcessSampler("harness")
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
