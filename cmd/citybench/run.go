package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/citybench/citybench/harness"
	"github.com/citybench/citybench/harness/faults"
	"github.com/citybench/citybench/harness/limits"
	"github.com/citybench/citybench/harness/schedule"
	"github.com/citybench/citybench/harness/target"
	"github.com/citybench/citybench/harness/target/embedded"
	"github.com/citybench/citybench/reports"
	"github.com/citybench/citybench/reports/result"
	"github.com/citybench/citybench/scenarios"
	"github.com/citybench/citybench/testcontainers"
	"github.com/citybench/citybench/testcontainers/external"
)

type runFlags struct {
	target   string
	broker   string
	out      string
	seed     int64
	noReport bool
	quiet    bool
	verbose  bool
	// segment runs one slice i/n of the scenario; startAt is the shared offset 0 of a
	// segmented run; workers splits the run over worker processes of this binary.
	segment      string
	startAt      string
	workers      int
	progressJSON bool
}

func newRunCmd() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run SCENARIO.yaml",
		Short: "Run a scenario against a pipeline and write result.json plus an HTML report",
		Long: `Run plays a scenario's simulated devices against a pipeline, measures every stage
(sent, acked, broker, kafka, store, api) open-loop — latency is measured from each
message's intended send time — and writes a run folder with result.json, plots,
timeseries.csv, HdrHistogram logs and index.html.

Exit status: 0 all SLOs passed, 1 error, 2 invalid scenario or flags, 99 an SLO failed.
Ctrl-C stops the load, drains with the scenario's deadline and writes a partial,
clearly marked result.`,
		Example: `  # the demo: a simulated district through the in-process pipeline
  citybench run scenarios/district.yaml

  # CI-sized run into a chosen folder, no plots
  citybench run scenarios/smoke.yaml --out results/smoke --no-report

  # the same scenario on real Mosquitto, Kafka ×3 and Cassandra (after make images)
  citybench run scenarios/smoke.yaml --target containers
  citybench run scenarios/smoke.yaml --target containers --broker hivemq

  # your own pipeline: endpoints from the environment
  CITYBENCH_MQTT_URL=tcp://mqtt.staging:1883 CITYBENCH_KAFKA_BROKERS=kafka.staging:9092 \
    citybench run scenarios/smoke.yaml --target external`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runScenario(cmd, args[0], f)
		},
	}
	cmd.Flags().StringVar(&f.target, "target", "", "override the scenario's target: embedded, containers or external")
	cmd.Flags().StringVar(&f.broker, "broker", "", "override the containers target's MQTT broker: mosquitto or hivemq")
	cmd.Flags().StringVar(&f.out, "out", "", "run folder (default results/<scenario>-<UTC time>)")
	cmd.Flags().Int64Var(&f.seed, "seed", 0, "override the scenario's seed (0 keeps it)")
	cmd.Flags().BoolVar(&f.noReport, "no-report", false, "write result.json only, no plots or HTML")
	cmd.Flags().BoolVarP(&f.quiet, "quiet", "q", false, "no live progress line")
	cmd.Flags().BoolVarP(&f.verbose, "verbose", "v", false, "log the pipeline's components too")
	cmd.Flags().StringVar(&f.segment, "segment", "", "run only segment i/n of every fleet (device k belongs to segment k mod n); merge the segments' results with `citybench merge`")
	cmd.Flags().StringVar(&f.startAt, "start-at", "", "wall-clock time of the run's offset 0 (RFC 3339), shared by the segments of one run; - reads it from standard input once the devices are connected")
	cmd.Flags().IntVar(&f.workers, "workers", 0, "split the devices over N worker processes against one pipeline and merge their results (0: as many as the devices need)")
	cmd.Flags().BoolVar(&f.progressJSON, "progress-json", false, "live progress as one JSON line a second (for a coordinator)")
	_ = cmd.Flags().MarkHidden("progress-json")
	return cmd
}

func runScenario(cmd *cobra.Command, path string, f runFlags) error {
	sc, overrides, err := loadScenario(path, f.target, f.broker)
	if err != nil {
		return err
	}
	if f.seed != 0 {
		sc.Seed = f.seed
		overrides["seed"] = strconv.FormatInt(f.seed, 10)
	}
	seg, startAt, err := segmentFlags(f)
	if err != nil {
		return withCode(exitInvalid, err)
	}
	stderr := cmd.ErrOrStderr()
	level := slog.LevelInfo
	if f.quiet {
		level = slog.LevelWarn
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	machine, err := limits.Read()
	if err != nil {
		return err
	}
	workers, err := workerCount(sc, seg, f.workers, machine)
	if err != nil {
		return withCode(exitInvalid, err)
	}
	tgt, out, err := openTarget(sc, f.out, sc.Name, log, f.verbose)
	if err != nil {
		return err
	}
	plannedFaults, err := faults.Build(sc, tgt)
	if err != nil {
		return withCode(exitInvalid, err)
	}
	if len(plannedFaults) > 0 && (workers > 1 || !seg.IsWhole()) {
		// A fault acts on the one pipeline of a run; its figures come from one time
		// line. Workers and segments would each need the coordinator to perform it.
		return withCode(exitInvalid, fmt.Errorf("%s: faults: are not supported with worker processes or --segment yet (%d workers, segment %s): run the fault scenario in one process", path, workers, seg))
	}
	if i := slices.IndexFunc(sc.Fleets, func(f scenarios.Fleet) bool { return f.Malformed > 0 }); i >= 0 && (workers > 1 || !seg.IsWhole()) {
		// Each worker's dead-letter tap would see every worker's dead letters and
		// the merge has no malformed accounting yet.
		return withCode(exitInvalid, sc.MalformedError(i, "not supported with worker processes or --segment yet (%d workers, segment %s): run it in one process", workers, seg))
	}
	if sc.ClosedLoop() && (workers > 1 || !seg.IsWhole()) {
		// A burst's rates and intended times live in one process's ledger; the
		// merge of segments refuses them (merge.ErrClosedLoop).
		return withCode(exitInvalid, fmt.Errorf("%s: arrival kind burst is not supported with worker processes or --segment (%d workers, segment %s): its rates need one process's first send and last observation — run the burst scenario in one process", path, workers, seg))
	}
	if sc.HasReconnect() && (workers > 1 || !seg.IsWhole()) {
		// The merge of segments does not combine reconnect storms' figures yet.
		return withCode(exitInvalid, fmt.Errorf("%s: reconnect: is not supported with worker processes or --segment yet (%d workers, segment %s): run the storm scenario in one process", path, workers, seg))
	}
	if err := makeOut(out); err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var progress io.Writer
	if !f.quiet || f.progressJSON {
		progress = stderr
	}
	c := coordination{path: path, flags: f, sc: sc, target: tgt, workers: workers, out: out, log: log, progress: progress, stderr: stderr, faults: plannedFaults}
	res, runErr := play(ctx, cmd, c, seg, startAt)
	if res == nil {
		return fmt.Errorf("run %s: %w", sc.Name, runErr)
	}
	res.Meta.Command = commandLine(cmd, []string{path}, overrides)
	return finish(ctx, cmd, res, runErr, out, f.noReport, log)
}

// overrideTarget applies --target and --broker to sc. The file was valid for its
// own target; the one the flags chose may refuse fields it cannot honour (the
// embedded target has no Cassandra nodes), so sc is validated again.
func overrideTarget(sc *scenarios.Scenario, kind, broker string) error {
	if broker != "" && broker != scenarios.BrokerMosquitto && broker != scenarios.BrokerHiveMQ {
		return fmt.Errorf("--broker %q: want mosquitto or hivemq", broker)
	}
	if kind == "" && broker == "" {
		return nil
	}
	if kind != "" {
		sc.Target.Kind = kind
	}
	if broker != "" {
		sc.Target.Broker = broker
	}
	if err := sc.Validate(); err != nil {
		return fmt.Errorf("with --target %q --broker %q: %w", sc.Target.Kind, sc.Target.Broker, err)
	}
	return nil
}

// play runs the scenario in this process (the whole or one segment), or as
// worker processes when c asks for several.
func play(ctx context.Context, cmd *cobra.Command, c coordination, seg schedule.Segment, startAt time.Time) (*result.Result, error) {
	if c.workers > 1 {
		return coordinate(ctx, c)
	}
	opts := harness.Options{Target: c.target, Logger: c.log, Progress: c.progress, Segment: seg, StartAt: startAt, ProgressJSON: c.flags.progressJSON, Faults: c.faults}
	if c.flags.startAt == "-" {
		opts.Ready = waitForStart(cmd.InOrStdin(), c.stderr)
	}
	res, err := harness.Run(ctx, c.sc, opts)
	if res != nil && c.sc.Target.Kind != "external" && !seg.IsWhole() {
		res.Warnings = append(res.Warnings, fmt.Sprintf("segment %s on the %s target brought up its own pipeline: merged with other segments it describes several pipelines, not one — give the segments one shared pipeline (--target external) for a merge that describes one system",
			seg, cmp.Or(c.sc.Target.Kind, "embedded")))
	}
	return res, err
}

// finish writes a run's (or a merge's) result and report, prints the summary and
// turns the outcome into the exit status.
func finish(ctx context.Context, cmd *cobra.Command, res *result.Result, runErr error, out string, noReport bool, log *slog.Logger) error {
	f := runFlags{noReport: noReport}
	resultPath := filepath.Join(out, "result.json")
	if err := res.Save(resultPath); err != nil {
		return err
	}
	if !f.noReport {
		// Rendering must finish even after Ctrl-C: the partial result deserves its report.
		if err := reports.Render(context.WithoutCancel(ctx), res, out); err != nil {
			log.Error("render report (result.json is intact; retry with `citybench report`)", "err", err)
		}
	}
	printSummary(cmd.OutOrStdout(), res)
	fmt.Fprintf(cmd.OutOrStdout(), "\nresult: %s\n", resultPath)
	if !f.noReport {
		fmt.Fprintf(cmd.OutOrStdout(), "report: %s\n", filepath.Join(out, "index.html"))
	}
	if runErr != nil { // an interrupted run (or a worker that failed): the partial result is written
		return withCode(exitError, runErr)
	}
	var failed []string
	for _, v := range res.SLOs {
		if !v.Pass {
			failed = append(failed, v.Expr)
		}
	}
	if len(failed) > 0 {
		return withCode(exitSLOFails, fmt.Errorf("%d SLO(s) failed: %s", len(failed), strings.Join(failed, "; ")))
	}
	return nil
}

// commandLine records how this run was started: an equivalent command line
// (every flag given, as --name=value or --name for a true switch) and the scenario fields the flags overrode.
func commandLine(cmd *cobra.Command, positional []string, overrides map[string]string) *result.Command {
	args := append(strings.Fields(cmd.CommandPath()), positional...)
	cmd.Flags().Visit(func(fl *pflag.Flag) {
		if fl.Value.Type() == "bool" && fl.Value.String() == "true" {
			args = append(args, "--"+fl.Name)
			return
		}
		args = append(args, "--"+fl.Name+"="+fl.Value.String())
	})
	c := &result.Command{Args: args}
	if len(overrides) > 0 {
		c.Overrides = overrides
	}
	return c
}

// loadScenario loads a scenario file and applies the --target and --broker
// overrides, returning the fields they changed.
func loadScenario(path, targetKind, broker string) (*scenarios.Scenario, map[string]string, error) {
	sc, err := scenarios.Load(path)
	if err != nil {
		return nil, nil, withCode(exitInvalid, err)
	}
	overrides := map[string]string{}
	if targetKind != "" {
		overrides["target.kind"] = targetKind
	}
	if broker != "" {
		overrides["target.broker"] = broker
	}
	if err := overrideTarget(sc, targetKind, broker); err != nil {
		return nil, nil, withCode(exitInvalid, err)
	}
	return sc, overrides, nil
}

// openTarget builds the scenario's target and names its output folder (out,
// or results/<stem>-<UTC time>; makeOut creates it); with verbose the pipeline's components log to log.
func openTarget(sc *scenarios.Scenario, out, stem string, log *slog.Logger, verbose bool) (target.Target, string, error) {
	var pipelineLog *slog.Logger
	if verbose {
		pipelineLog = log
	}
	if out == "" {
		out = filepath.Join("results", fmt.Sprintf("%s-%s", stem, time.Now().UTC().Format("20060102T150405Z")))
	}
	tgt, err := newTarget(sc, out, pipelineLog, log)
	if err != nil {
		return nil, "", withCode(exitInvalid, err)
	}
	return tgt, out, nil
}

// makeOut creates the output folder once every input check has passed: a refused
// run leaves nothing behind.
func makeOut(out string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("create output folder: %w", err)
	}
	return nil
}

// newTarget builds the scenario's target; pipelineLog (nil: quiet) gets the
// logs of pipeline components this process runs, runLog the harness-side ones
// (the external target's preflight).
func newTarget(sc *scenarios.Scenario, out string, pipelineLog, runLog *slog.Logger) (target.Target, error) {
	log := pipelineLog
	switch sc.Target.Kind {
	case "", "embedded":
		return embedded.New(sc, log)
	case "containers":
		opts := []testcontainers.Option{testcontainers.WithRunDir(out), testcontainers.WithNetworkFaults(sc.Faults), testcontainers.WithPayloads(sc.Payloads()), testcontainers.WithDevices(sc.Devices())}
		if log != nil {
			opts = append(opts, testcontainers.WithLogger(log))
		}
		return testcontainers.NewTarget(sc.Target, opts...), nil
	case "external":
		cfg := external.ConfigFromEnv(os.Getenv)
		if len(cfg.MQTTURLs) == 0 {
			return nil, errors.New("target external: set CITYBENCH_MQTT_URL (and, for the stages to measure, CITYBENCH_KAFKA_BROKERS, CITYBENCH_CASSANDRA_HOSTS, CITYBENCH_API_URL)")
		}
		return external.New(cfg, external.WithLogger(runLog)), nil
	default:
		return nil, fmt.Errorf("unknown target %q (want embedded, containers or external)", sc.Target.Kind)
	}
}

// segmentFlags reads --segment and --start-at.
func segmentFlags(f runFlags) (schedule.Segment, time.Time, error) {
	seg := schedule.Whole
	var at time.Time
	if f.segment != "" {
		var err error
		if seg, err = schedule.ParseSegment(f.segment); err != nil {
			return seg, at, fmt.Errorf("--segment: %w", err)
		}
		if f.workers > 1 {
			return seg, at, errors.New("--segment and --workers: a segment runs in one process; give one of them")
		}
	}
	if f.startAt != "" && f.startAt != "-" {
		var err error
		if at, err = time.Parse(time.RFC3339Nano, f.startAt); err != nil {
			return seg, at, fmt.Errorf("--start-at %q: want an RFC 3339 time such as 2026-12-01T10:00:00Z", f.startAt)
		}
	}
	return seg, at, nil
}

func printSummary(w io.Writer, r *result.Result) {
	fmt.Fprintf(w, "\n%s on %s — %d devices, %.0f s measured\n", r.Meta.Scenario, r.Meta.Target.Kind, r.Meta.Devices, r.Meta.DurationS)
	if r.Meta.Segment != "" {
		fmt.Fprintf(w, "segment %s of the scenario: merge every segment's result with `citybench merge`\n", r.Meta.Segment)
	}
	for _, wk := range r.Workers {
		sat := ""
		if wk.Saturated {
			sat = "  SATURATED"
		}
		fmt.Fprintf(w, "worker %s: %d devices, generator lag p99 %s (max %s), errors %d%s\n", wk.Segment, wk.Devices, result.FormatUs(wk.GeneratorLag.P99Us), result.FormatUs(wk.GeneratorLag.MaxUs), wk.Errors, sat)
	}
	if r.Meta.Target.Note != "" {
		fmt.Fprintf(w, "note: %s\n", r.Meta.Target.Note)
	}
	for _, warn := range r.Warnings {
		fmt.Fprintf(w, "WARNING: %s\n", warn)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "stage\texpected\tdelivered\tlost\tunverified\tdup\treorder\tp50\tp99\tp99.9\tmax\tsvc p99\t")
	for _, s := range r.Stages {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t\n", s.Stage, s.Delivery.Expected, s.Delivery.Delivered,
			s.Delivery.Lost, s.Delivery.Unverified, s.Delivery.Duplicated, s.Delivery.Reordered,
			result.FormatUs(s.Latency.P50Us), result.FormatUs(s.Latency.P99Us), result.FormatUs(s.Latency.P999Us), result.FormatUs(s.Latency.MaxUs), result.FormatUs(s.ServiceTime.P99Us))
	}
	tw.Flush()
	for _, o := range r.TapOutages {
		still := ""
		if o.Open {
			still = ", still unavailable at the end"
		}
		fmt.Fprintf(w, "tap unavailable: %s tap %.1f–%.1f s%s: %s (the harness's outage, not pipeline loss)\n", o.Tap, o.FromS, o.ToS, still, o.Reason)
	}
	printRates(w, r)
	printBadInput(w, r)
	fmt.Fprintf(w, "generator lag p99 %s (max %s)\n", result.FormatUs(r.GeneratorLag.P99Us), result.FormatUs(r.GeneratorLag.MaxUs))
	printFaults(w, r)
	printReconnects(w, r)
	for _, v := range r.SLOs {
		verdict := "PASS"
		if !v.Pass {
			verdict = "FAIL"
		}
		note := ""
		if v.Note != "" {
			note = " — " + v.Note
		}
		fmt.Fprintf(w, "SLO %s  %s (observed %s)%s\n", verdict, v.Expr, result.FormatValue(v.Observed, v.Unit), note)
	}
}

// printFaults is the fault table: per fault and stage, recovery, unavailability
// and the window's message accounting.
func printFaults(w io.Writer, r *result.Result) {
	if len(r.Faults) == 0 {
		return
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "fault\tat\tstage\tbaseline p50\trecovery\tunavailable\texpected\tdelayed\tlost\tdup\tavailability\t")
	for _, f := range r.Faults {
		name := f.Kind + " " + f.Component
		if f.Error != "" {
			fmt.Fprintf(tw, "%s\t%.1fs\tFAILED: %s\t\t\t\t\t\t\t\t\t\n", name, f.AtS, f.Error)
			continue
		}
		for _, s := range f.Stages {
			rec := fmt.Sprintf("%.0fs", s.RecoveryS)
			if !s.Recovered {
				rec = ">" + rec + " (not recovered)"
			}
			fmt.Fprintf(tw, "%s\t%.1fs\t%s\t%s\t%s\t%.0fs\t%d\t%d\t%d\t%d\t%.2f%%\t\n", name, f.AtS, s.Stage, result.FormatUs(s.BaselineP50Us),
				rec, s.UnavailableS, s.Expected, s.Delayed, s.Lost, s.Duplicated, 100*s.Availability)
		}
	}
	tw.Flush()
}

// printRates shows a closed-loop (burst) run's per-stage messages per second.
func printRates(w io.Writer, r *result.Result) {
	if !r.HasFlag(result.FlagClosedLoop) {
		return
	}
	var parts []string
	for _, s := range r.Stages {
		if s.RatePerS > 0 {
			parts = append(parts, fmt.Sprintf("%s %.1f/s", s.Stage, s.RatePerS))
		}
	}
	fmt.Fprintf(w, "burst rates (delivered / (last observation − first send)): %s\n", strings.Join(parts, "  "))
	if st := r.Stage(result.StageStore); st != nil && st.RatePerS > 0 {
		fmt.Fprintf(w, "stored messages/s: %.1f\n", st.RatePerS)
	}
}
