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
	sc, err := scenarios.Load(path)
	if err != nil {
		return withCode(exitInvalid, err)
	}
	if f.target != "" {
		sc.Target.Kind = f.target
	}
	if f.broker != "" {
		if f.broker != "mosquitto" && f.broker != "hivemq" {
			return withCode(exitInvalid, fmt.Errorf("--broker %q: want mosquitto or hivemq", f.broker))
		}
		sc.Target.Broker = f.broker
	}
	if f.seed != 0 {
		sc.Seed = f.seed
	}
	stderr := cmd.ErrOrStderr()
	level := slog.LevelInfo
	if f.quiet {
		level = slog.LevelWarn
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	var pipelineLog *slog.Logger
	if f.verbose {
		pipelineLog = log
	}
	out := f.out
	if out == "" {
		out = filepath.Join("results", fmt.Sprintf("%s-%s", sc.Name, time.Now().UTC().Format("20060102T150405Z")))
	}
	tgt, err := newTarget(sc, out, pipelineLog)
	if err != nil {
		return withCode(exitInvalid, err)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("create run folder: %w", err)
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

func newTarget(sc *scenarios.Scenario, out string, log *slog.Logger) (target.Target, error) {
	switch sc.Target.Kind {
	case "", "embedded":
		return embedded.New(sc, log)
	case "containers":
		opts := []testcontainers.Option{testcontainers.WithRunDir(out), testcontainers.WithPayloads(sc.Payloads())}
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
			us(s.Latency.P50Us), us(s.Latency.P99Us), us(s.Latency.P999Us), us(s.Latency.MaxUs), us(s.ServiceTime.P99Us))
	}
	tw.Flush()
	printRates(w, r)
	fmt.Fprintf(w, "generator lag p99 %s (max %s)\n", us(r.GeneratorLag.P99Us), us(r.GeneratorLag.MaxUs))
	for _, v := range r.SLOs {
		verdict := "PASS"
		if !v.Pass {
			verdict = "FAIL"
		}
		observed := fmt.Sprintf("%g %s", v.Observed, v.Unit)
		if v.Unit == "us" {
			observed = us(int64(v.Observed))
		}
		note := ""
		if v.Note != "" {
			note = " — " + v.Note
		}
		fmt.Fprintf(w, "SLO %s  %s (observed %s)%s\n", verdict, v.Expr, strings.TrimSpace(observed), note)
	}
}

func us(v int64) string {
	d := time.Duration(v) * time.Microsecond
	switch {
	case d == 0:
		return "-"
	case d < time.Millisecond:
		return d.String()
	case d < time.Second:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
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
