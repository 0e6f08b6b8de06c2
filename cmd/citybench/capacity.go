package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/citybench/citybench/harness/capacity"
	"github.com/citybench/citybench/reports"
	"github.com/citybench/citybench/reports/htmlreport"
	"github.com/citybench/citybench/reports/result"
)

type capacityFlags struct {
	target, broker, out, by, intervals string
	precision, maxRate, startRate      float64
	stepDuration, hold                 time.Duration
	maxSteps                           int
	verbose                            bool
}

func newCapacityCmd() *cobra.Command {
	var f capacityFlags
	cmd := &cobra.Command{
		Use:   "capacity SCENARIO.yaml",
		Short: "Find the highest rate the pipeline sustains under the scenario's SLOs, name the bottleneck, size a city",
		Long: `Capacity scales the scenario's offered load on one running topology: a settle step
at the scenario's own rate, doubling until a step fails, bisection to --precision, then a
confirming step with the longer --hold. A step passes when every SLO passes, every
measured stage delivers at least 99 % of what was offered, no stage's backlog grows over
the hold, and the generator kept up. The folder gets capacity.json, every step's
result.json under steps/, charts and index.html. Ctrl-C writes what was found so far.

Exit status: 0 found, 1 error or interrupted (what was found is still written), 2 invalid input.`,
		Example: `  citybench capacity scenarios/smoke.yaml
  citybench capacity scenarios/smoke.yaml --target containers --max-rate 20000
  citybench capacity scenarios/district.yaml --by devices --interval 60s,30s,10s`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runCapacity(cmd, args[0], f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.target, "target", "", "override the scenario's target: embedded, containers or external")
	fl.StringVar(&f.broker, "broker", "", "override the containers target's MQTT broker: mosquitto or hivemq")
	fl.StringVar(&f.out, "out", "", "capacity folder (default results/<scenario>-capacity-<UTC time>)")
	fl.StringVar(&f.by, "by", capacity.ByRate, "what to scale: rate (every fleet's rate) or devices (every fleet's device count)")
	fl.Float64Var(&f.precision, "precision", 0.05, "bisect until the bracket is within this fraction of the answer")
	fl.Float64Var(&f.maxRate, "max-rate", 0, "never offer more than this many msgs/s (0: no bound)")
	fl.Float64Var(&f.startRate, "start-rate", 0, "rate of the first step in msgs/s (default: the scenario's own)")
	fl.DurationVar(&f.stepDuration, "step-duration", 10*time.Second, "measured hold of each bracket and bisect step (after the scenario's warm-up)")
	fl.DurationVar(&f.hold, "hold", 30*time.Second, "measured hold of the confirming step")
	fl.IntVar(&f.maxSteps, "max-steps", 30, "stop after this many steps")
	fl.StringVar(&f.intervals, "interval", "60s,30s,10s", "reading intervals to size the city for, comma separated")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "log the harness and the pipeline's components too")
	return cmd
}

func (f capacityFlags) check() ([]time.Duration, error) {
	var errs []error
	if f.by != capacity.ByRate && f.by != capacity.ByDevices {
		errs = append(errs, fmt.Errorf("--by %q: want rate or devices", f.by))
	}
	if f.precision <= 0 || f.precision >= 1 {
		errs = append(errs, fmt.Errorf("--precision %g: want a fraction between 0 and 1, e.g. 0.05", f.precision))
	}
	if f.maxRate < 0 || f.startRate < 0 {
		errs = append(errs, errors.New("--max-rate and --start-rate must not be negative"))
	}
	if f.stepDuration < 2*time.Second || f.hold < f.stepDuration {
		errs = append(errs, fmt.Errorf("--step-duration %s must be at least 2s and --hold %s at least as long", f.stepDuration, f.hold))
	}
	var ivs []time.Duration
	for _, s := range strings.Split(f.intervals, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("--interval %q: want durations such as 60s,30s,10s", s))
			continue
		}
		ivs = append(ivs, d)
	}
	return ivs, errors.Join(errs...)
}

func runCapacity(cmd *cobra.Command, path string, f capacityFlags) error {
	intervals, err := f.check()
	if err != nil {
		return withCode(exitInvalid, err)
	}
	sc, _, err := loadScenario(path, f.target, f.broker)
	if err != nil {
		return err
	}
	base, fleets, err := capacity.BaseLoad(sc)
	if err != nil {
		return withCode(exitInvalid, err)
	}
	stderr, stdout := cmd.ErrOrStderr(), cmd.OutOrStdout()
	level := slog.LevelWarn
	if f.verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	// The topology is sized (the embedded pipeline's retention) for the longest step.
	longest := capacity.Scale(sc, f.by, 1, max(f.stepDuration, f.hold))
	tgt, out, err := openTarget(longest, f.out, sc.Name+"-capacity", log, f.verbose)
	if err != nil {
		return err
	}
	if err := makeOut(out); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	shared := capacity.Share(tgt)
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		if err := shared.Close(sctx); err != nil {
			log.Error("stop target", "err", err)
		}
	}()

	crit := capacity.Criteria{}
	capRes := &result.Capacity{SchemaVersion: result.CapacitySchemaVersion, Scenario: sc.Name, ScenarioFile: sc.File,
		Target: tgt.Describe(), By: f.by, BaseRate: base, Criteria: crit.Describe()}
	capPath := filepath.Join(out, "capacity.json")
	fmt.Fprintf(stderr, "capacity search: %s on %s, scaled by %s from %.0f msgs/s; steps hold %s (+%s warm-up), confirm %s\n",
		sc.Name, sc.Target.Kind, f.by, base, f.stepDuration, sc.Warmup.D(), f.hold)
	started := time.Now()
	runner := &capacity.Runner{Scenario: sc, Target: shared, By: f.by, BaseRate: base, Dir: out, Logger: log, Progress: stderr}
	cfg := capacity.Config{
		StartRate: base, MaxRate: f.maxRate, Precision: f.precision, StepHold: f.stepDuration, ConfirmHold: f.hold,
		MaxSteps: f.maxSteps, Criteria: crit,
		OnStep: func(e result.StepEntry) {
			fmt.Fprintln(stderr, stepLine(e, time.Since(started)))
			capRes.Steps = append(capRes.Steps, e)
			if err := capRes.Save(capPath); err != nil { // so a crash still leaves the steps so far
				log.Warn("save capacity.json", "err", err)
			}
		},
	}
	if f.startRate > 0 {
		cfg.StartRate = f.startRate
	}
	outcome, searchErr := capacity.Search(ctx, runner, cfg)
	finishCapacity(context.WithoutCancel(ctx), capRes, outcome, shared, fleets, intervals, crit, log)
	if err := capRes.Save(capPath); err != nil {
		return err
	}
	if err := reports.RenderCapacity(context.WithoutCancel(ctx), capRes, out); err != nil {
		log.Error("render capacity report (capacity.json is intact)", "err", err)
	}
	printCapacity(stdout, capRes, time.Since(started))
	fmt.Fprintf(stdout, "\ncapacity: %s\nreport:   %s\n", capPath, filepath.Join(out, reports.IndexFile))
	if searchErr != nil {
		return withCode(exitError, fmt.Errorf("capacity search: %w", searchErr))
	}
	return nil
}

// finishCapacity turns the search's outcome into the capacity result: bottleneck, city and storage.
func finishCapacity(ctx context.Context, c *result.Capacity, o capacity.Outcome, sh capacity.Shared, fleets []capacity.FleetLoad, intervals []time.Duration, crit capacity.Criteria, log *slog.Logger) {
	c.MaxSustainableRate, c.Confirmed, c.Confidence = o.Max, o.Confirmed, o.Bracket
	c.NonMonotonic, c.Notes, c.Stopped, c.Steps = o.NonMonotonic, o.Notes, o.Stopped, o.Steps
	c.Partial = o.Stopped == capacity.StopInterrupted || o.Stopped == capacity.StopError
	if len(o.Steps) > 0 {
		c.Bottleneck = capacity.Bottleneck(o, crit)
	}
	if o.Max <= 0 {
		return
	}
	c.City = capacity.City(o.Max, fleets, intervals)
	fp, err := capacity.Footprint(ctx, sh)
	if err != nil {
		c.Notes = append(c.Notes, err.Error())
		log.Warn("storage sizing", "err", err)
		return
	}
	if c.Storage, err = capacity.Storage(fp, o.Max, c.BaseRate); err != nil {
		c.Notes = append(c.Notes, err.Error())
	}
}

func stepLine(e result.StepEntry, elapsed time.Duration) string {
	verdict := "PASS"
	if !e.Pass {
		verdict = "FAIL: " + strings.Join(e.Reasons, "; ")
	}
	var parts []string
	for _, s := range e.Stages {
		if s.Stage == result.StageSent || s.Stage == result.StageAPI {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s p99 %s backlog %+.0f/s", s.Stage, result.FormatUs(s.P99Us), s.BacklogSlope))
	}
	return fmt.Sprintf("[%s] step %d %-7s %7.0f msgs/s: offered %.0f/s delivered %.0f/s  %s  (load %.1f%s) → %s",
		elapsed.Round(time.Second), e.Index, e.Kind, e.Rate, e.OfferedRate, e.DeliveredRate, strings.Join(parts, ", "), e.HostLoad, hostCPUText(e), verdict)
}

// hostCPUText is the host's CPU use during a step and what other processes took of it.
func hostCPUText(e result.StepEntry) string {
	if e.HostCPU <= 0 {
		return ""
	}
	return fmt.Sprintf(", host CPU %.0f/%d %%, others %.0f %%", e.HostCPU, 100*e.HostCores, e.OtherCPU)
}

// printCapacity writes the summary a planner can paste into an email.
func printCapacity(w io.Writer, c *result.Capacity, took time.Duration) {
	fmt.Fprintf(w, "\nCapacity of %s on %s (scaled by %s; the scenario offers %.0f msgs/s) — %d steps in %s\n",
		c.Scenario, c.Target.Kind, c.By, c.BaseRate, len(c.Steps), took.Round(time.Second))
	if c.Target.Note != "" {
		fmt.Fprintf(w, "Note: %s\n", c.Target.Note)
	}
	confirmed := "confirmed by the longer hold"
	if !c.Confirmed {
		confirmed = "UNCONFIRMED"
	}
	fail := "none failed"
	if c.Confidence.Fail > 0 {
		fail = fmt.Sprintf("%.0f failed", c.Confidence.Fail)
	}
	fmt.Fprintf(w, "Highest sustainable rate: %.0f msgs/s (%s; bracket %.0f passed, %s; stopped: %s)\n",
		c.MaxSustainableRate, confirmed, c.Confidence.Pass, fail, c.Stopped)
	if c.NonMonotonic {
		fmt.Fprintln(w, "WARNING: non-monotonic — a lower rate failed after a higher one passed")
	}
	for _, n := range c.Notes {
		fmt.Fprintf(w, "Note: %s\n", n)
	}
	if c.Bottleneck.Component != "" {
		fmt.Fprintf(w, "Bottleneck: %s", c.Bottleneck.Component)
		if c.Bottleneck.Stage != "" {
			fmt.Fprintf(w, " (the %s stage fell behind first)", c.Bottleneck.Stage)
		}
		fmt.Fprintln(w)
		for _, e := range c.Bottleneck.Evidence {
			fmt.Fprintf(w, "  - %s\n", e)
		}
	}
	if len(c.City) > 0 {
		fmt.Fprintln(w, "City sizing (fleets in the scenario's proportions):")
		for _, f := range c.City {
			fmt.Fprintf(w, "  %s: %d devices at the scenario's interval (%.3g msgs/s each; the scenario has %d)", f.Fleet, f.Devices, f.MsgsPerDeviceS, f.ScenarioDevices)
			for _, iv := range f.AtIntervals {
				fmt.Fprintf(w, "; %d at %s", iv.Devices, iv.Interval)
			}
			fmt.Fprintln(w)
		}
	}
	if s := c.Storage; s != nil {
		method := s.Method // says "measured: …" or "estimate: …" itself
		if s.Estimate {
			method = "ESTIMATE — " + method
		}
		fmt.Fprintf(w, "Storage: %.1f B per reading (%s), replication %d\n", s.BytesPerReading, method, s.ReplicationFactor)
		fmt.Fprintf(w, "  at %.0f msgs/s: %s/day, %s/year; at the scenario's %.0f msgs/s: %s/day, %s/year\n", s.Rate,
			htmlreport.HumanBytes(s.PerDayBytes), htmlreport.HumanBytes(s.PerYearBytes), c.BaseRate,
			htmlreport.HumanBytes(s.ScenarioPerDayBytes), htmlreport.HumanBytes(s.ScenarioPerYearBytes))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "step\tkind\trate\toffered\tdelivered\tlast p99\thost load\thost CPU %\tothers %\tverdict\t")
	for _, e := range c.Steps {
		p99 := int64(0)
		for _, s := range e.Stages {
			if s.Stage != result.StageAPI {
				p99 = s.P99Us
			}
		}
		v := "pass"
		if !e.Pass {
			v = "FAIL"
		}
		if e.Repeated {
			v += " (run again)"
		}
		fmt.Fprintf(tw, "%d\t%s\t%.0f\t%.0f\t%.0f\t%s\t%.1f/%d\t%.0f\t%.0f\t%s\t\n", e.Index, e.Kind, e.Rate, e.OfferedRate, e.DeliveredRate, result.FormatUs(p99), e.HostLoad, e.HostCores, e.HostCPU, e.OtherCPU, v)
	}
	tw.Flush()
}
