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
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/citybench/citybench/harness"
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
	stderr := cmd.ErrOrStderr()
	level := slog.LevelInfo
	if f.quiet {
		level = slog.LevelWarn
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	tgt, out, err := openTarget(sc, f.out, sc.Name, log, f.verbose)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var progress io.Writer
	if !f.quiet {
		progress = stderr
	}
	res, runErr := harness.Run(ctx, sc, harness.Options{Target: tgt, Logger: log, Progress: progress})
	if res == nil {
		return fmt.Errorf("run %s: %w", sc.Name, runErr)
	}
	res.Meta.Command = commandLine(cmd, path, overrides)
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
	if errors.Is(runErr, harness.ErrInterrupted) {
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
func commandLine(cmd *cobra.Command, scenario string, overrides map[string]string) *result.Command {
	args := append(strings.Fields(cmd.CommandPath()), scenario)
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
		sc.Target.Kind = targetKind
		overrides["target.kind"] = targetKind
	}
	if broker != "" {
		if broker != "mosquitto" && broker != "hivemq" {
			return nil, nil, withCode(exitInvalid, fmt.Errorf("--broker %q: want mosquitto or hivemq", broker))
		}
		sc.Target.Broker = broker
		overrides["target.broker"] = broker
	}
	if targetKind != "" || broker != "" {
		// The file was valid for its own target; the one the flags chose may refuse
		// fields it cannot honour (the embedded target has no Cassandra nodes).
		if err := sc.Validate(); err != nil {
			return nil, nil, withCode(exitInvalid, fmt.Errorf("with --target %q --broker %q: %w", sc.Target.Kind, sc.Target.Broker, err))
		}
	}
	return sc, overrides, nil
}

// openTarget builds the scenario's target and creates its output folder (out,
// or results/<stem>-<UTC time>); with verbose the pipeline's components log to log.
func openTarget(sc *scenarios.Scenario, out, stem string, log *slog.Logger, verbose bool) (target.Target, string, error) {
	var pipelineLog *slog.Logger
	if verbose {
		pipelineLog = log
	}
	if out == "" {
		out = filepath.Join("results", fmt.Sprintf("%s-%s", stem, time.Now().UTC().Format("20060102T150405Z")))
	}
	tgt, err := newTarget(sc, out, pipelineLog)
	if err != nil {
		return nil, "", withCode(exitInvalid, err)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, "", fmt.Errorf("create output folder: %w", err)
	}
	return tgt, out, nil
}

func newTarget(sc *scenarios.Scenario, out string, log *slog.Logger) (target.Target, error) {
	switch sc.Target.Kind {
	case "", "embedded":
		return embedded.New(sc, log)
	case "containers":
		opts := []testcontainers.Option{testcontainers.WithRunDir(out)}
		if log != nil {
			opts = append(opts, testcontainers.WithLogger(log))
		}
		return testcontainers.NewTarget(sc.Target, opts...), nil
	case "external":
		cfg := external.ConfigFromEnv(os.Getenv)
		if len(cfg.MQTTURLs) == 0 {
			return nil, errors.New("target external: set CITYBENCH_MQTT_URL (and, for the stages to measure, CITYBENCH_KAFKA_BROKERS, CITYBENCH_CASSANDRA_HOSTS, CITYBENCH_API_URL)")
		}
		var opts []external.Option
		if log != nil {
			opts = append(opts, external.WithLogger(log))
		}
		return external.New(cfg, opts...), nil
	default:
		return nil, fmt.Errorf("unknown target %q (want embedded, containers or external)", sc.Target.Kind)
	}
}

func printSummary(w io.Writer, r *result.Result) {
	fmt.Fprintf(w, "\n%s on %s — %d devices, %.0f s measured\n", r.Meta.Scenario, r.Meta.Target.Kind, r.Meta.Devices, r.Meta.DurationS)
	if r.Meta.Target.Note != "" {
		fmt.Fprintf(w, "note: %s\n", r.Meta.Target.Note)
	}
	for _, warn := range r.Warnings {
		fmt.Fprintf(w, "WARNING: %s\n", warn)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "stage\texpected\tdelivered\tlost\tdup\treorder\tp50\tp99\tp99.9\tmax\tsvc p99\t")
	for _, s := range r.Stages {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t\n", s.Stage, s.Delivery.Expected, s.Delivery.Delivered,
			s.Delivery.Lost, s.Delivery.Duplicated, s.Delivery.Reordered,
			result.FormatUs(s.Latency.P50Us), result.FormatUs(s.Latency.P99Us), result.FormatUs(s.Latency.P999Us), result.FormatUs(s.Latency.MaxUs), result.FormatUs(s.ServiceTime.P99Us))
	}
	tw.Flush()
	fmt.Fprintf(w, "generator lag p99 %s (max %s)\n", result.FormatUs(r.GeneratorLag.P99Us), result.FormatUs(r.GeneratorLag.MaxUs))
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
