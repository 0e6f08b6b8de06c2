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
	"time"

	"github.com/spf13/cobra"

	"github.com/citybench/citybench/harness"
	"github.com/citybench/citybench/harness/faults"
	"github.com/citybench/citybench/harness/slo"
	"github.com/citybench/citybench/reports/exptable"
	"github.com/citybench/citybench/reports/result"
	"github.com/citybench/citybench/scenarios"
	"github.com/citybench/citybench/scenarios/experiment"
)

type experimentFlags struct {
	target  string
	broker  string
	out     string
	repeat  int
	list    bool
	verbose bool
}

func newExperimentCmd() *cobra.Command {
	var f experimentFlags
	cmd := &cobra.Command{
		Use:   "experiment NAME|DIR",
		Short: "Reproduce a published table: run each of its cells and write ours beside the source's figures",
		Long: `Experiment runs every cell of an experiment (scenarios/experiments/NAME, or a folder
holding an experiment.yaml and its scenarios) --repeat times and writes table.md,
table.csv, experiment.json (our median and range beside the published figure, the
ratio, and the column comparisons the source states) and table.png/.svg. Each run's
result.json is kept under runs/.

Exit status: 0 every cell measured, 1 a run failed or could not show the measure,
2 invalid experiment, scenario or flags.`,
		Example: `  citybench experiment --list
  citybench experiment table1                       # the Samos Table I on the embedded target
  citybench experiment table1 --target containers --repeat 1`,
		Args: func(cmd *cobra.Command, args []string) error {
			if f.list {
				return cobra.NoArgs(cmd, args)
			}
			if len(args) != 1 {
				return withCode(exitInvalid, errors.New("give one experiment name or folder (see --list)"))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.list {
				return listExperiments(cmd.OutOrStdout())
			}
			return runExperiment(cmd, args[0], f)
		},
	}
	cmd.Flags().StringVar(&f.target, "target", "", "override every scenario's target: embedded, containers or external")
	cmd.Flags().StringVar(&f.broker, "broker", "", "override the containers target's MQTT broker: mosquitto or hivemq")
	cmd.Flags().StringVar(&f.out, "out", "", "output folder (default results/experiment-<name>-<target>-<UTC time>)")
	cmd.Flags().IntVar(&f.repeat, "repeat", 3, "runs per cell")
	cmd.Flags().BoolVar(&f.list, "list", false, "list the experiments in "+experiment.Dir)
	cmd.Flags().BoolVarP(&f.verbose, "verbose", "v", false, "log the harness and pipeline")
	return cmd
}

func listExperiments(w io.Writer) error {
	exps, err := experiment.List(experiment.Dir)
	if err != nil {
		return withCode(exitInvalid, err)
	}
	for _, e := range exps {
		fmt.Fprintf(w, "%-12s %2d cells  %s\n", e.Name, e.Cells(), e.Title)
	}
	return nil
}

// resolveExperiment takes a folder as given, else a name in the catalog.
func resolveExperiment(arg string) string {
	if st, err := os.Stat(arg); err == nil && st.IsDir() {
		return arg
	}
	return filepath.Join(experiment.Dir, arg)
}

// cellRun is one planned run.
type cellRun struct {
	row, col string
	repeat   int
	path     string
	subject  scenarios.SLO
	sc       *scenarios.Scenario
}

func planExperiment(e *experiment.Experiment, f experimentFlags) ([]cellRun, error) {
	var runs []cellRun
	var errs []error
	for _, r := range e.Rows {
		for _, col := range e.ColumnNames() {
			c, ok := r.Cells[col]
			if !ok {
				continue
			}
			for i := 1; i <= f.repeat; i++ {
				// Each repeat loads afresh: a run must not see another's state.
				sc, err := scenarios.Load(e.ScenarioPath(c))
				if err != nil {
					errs = append(errs, err)
					break
				}
				if err := overrideTarget(sc, f.target, f.broker); err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", e.ScenarioPath(c), err))
					break
				}
				runs = append(runs, cellRun{row: r.Name, col: col, repeat: i, path: e.ScenarioPath(c), subject: r.Subject, sc: sc})
			}
		}
	}
	return runs, errors.Join(errs...)
}

func runExperiment(cmd *cobra.Command, arg string, f experimentFlags) error {
	if f.repeat < 1 {
		return withCode(exitInvalid, fmt.Errorf("--repeat %d: want at least 1", f.repeat))
	}
	e, err := experiment.Load(resolveExperiment(arg))
	if err != nil {
		return withCode(exitInvalid, err)
	}
	planned, err := planExperiment(e, f)
	if err != nil {
		return withCode(exitInvalid, err)
	}
	targetKind := planned[0].sc.Target.Kind
	out := f.out
	if out == "" {
		out = filepath.Join("results", fmt.Sprintf("experiment-%s-%s-%s", e.Name, targetKind, time.Now().UTC().Format("20060102T150405Z")))
	}
	stderr := cmd.ErrOrStderr()
	level := slog.LevelWarn
	if f.verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	fmt.Fprintf(stderr, "experiment %s: %d rows, %d cells × %d repeats = %d runs on %s → %s\n", e.Name, len(e.Rows), e.Cells(), f.repeat, len(planned), targetKind, out)
	loadBefore := loadAverage()
	var runs []exptable.Run
	var failures []string
	started := time.Now()
	done := map[string]cellResult{} // rows sharing a scenario share its runs
	for i, p := range planned {
		if ctx.Err() != nil {
			failures = append(failures, "interrupted")
			break
		}
		key := fmt.Sprintf("%s#%d", p.path, p.repeat)
		cr, ok := done[key]
		if !ok {
			cr = runCell(ctx, p, out, log)
			done[key] = cr
		}
		run := observe(p, cr)
		runs = append(runs, run)
		status := fmt.Sprintf("%s %s %s", p.subject.Expr, num(run.Value), exptable.Unit(p.subject))
		if cr.err != nil || !run.OK {
			status = "FAILED: " + strings.TrimSpace(fmt.Sprint(errOr(cr.err, run.Note)))
			failures = append(failures, fmt.Sprintf("%s/%s #%d: %s", p.row, p.col, p.repeat, status))
		}
		if ok {
			status += " (same run as an earlier row)"
		}
		fmt.Fprintf(stderr, "[%2d/%d %s] %-10s %-6s #%d  %s\n", i+1, len(planned), time.Since(started).Round(time.Second), p.row, p.col, p.repeat, status)
	}
	t := exptable.Build(e, runs)
	t.Target, t.Repeats, t.Machine = targetKind, f.repeat, harness.Machine()
	t.LoadAverage = []string{loadBefore, loadAverage()}
	if err := exptable.Write(out, t); err != nil {
		return err
	}
	fmt.Fprint(cmd.OutOrStdout(), exptable.Markdown(t))
	fmt.Fprintf(cmd.OutOrStdout(), "\ntable: %s\n", filepath.Join(out, exptable.MarkdownFile))
	if len(failures) > 0 {
		return fmt.Errorf("%d of %d runs failed: %s", len(failures), len(planned), strings.Join(failures, "; "))
	}
	return nil
}

// cellResult is one scenario run: its result (nil when it failed to produce one).
type cellResult struct {
	rel string // run folder relative to the experiment's output
	res *result.Result
	err error
}

// runCell runs one scenario and keeps its result.json under runs/.
func runCell(ctx context.Context, p cellRun, out string, log *slog.Logger) cellResult {
	cr := cellResult{rel: filepath.Join("runs", fmt.Sprintf("%s-%s-%d", p.row, p.col, p.repeat))}
	dir := filepath.Join(out, cr.rel)
	if cr.err = os.MkdirAll(dir, 0o755); cr.err != nil {
		return cr
	}
	var pipelineLog *slog.Logger
	if log.Enabled(ctx, slog.LevelInfo) {
		pipelineLog = log
	}
	tgt, err := newTarget(p.sc, dir, pipelineLog, log)
	if err != nil {
		cr.err = withCode(exitInvalid, err)
		return cr
	}
	plannedFaults, err := faults.Build(p.sc, tgt)
	if err != nil {
		cr.err = withCode(exitInvalid, err)
		return cr
	}
	cr.res, cr.err = harness.Run(ctx, p.sc, harness.Options{Target: tgt, Logger: log, Faults: plannedFaults})
	if cr.res != nil {
		if err := cr.res.Save(filepath.Join(dir, "result.json")); err != nil {
			cr.err = errors.Join(cr.err, err)
		}
	}
	return cr
}

// observe reads a row's measure from a cell's run.
func observe(p cellRun, cr cellResult) exptable.Run {
	run := exptable.Run{Row: p.row, Column: p.col, Repeat: p.repeat, Result: filepath.Join(cr.rel, "result.json")}
	if cr.res == nil {
		run.Note = fmt.Sprint(cr.err)
		return run
	}
	run.Flags, run.Warnings = cr.res.Flags, cr.res.Warnings
	v, note, ok := slo.Observe(p.subject, cr.res)
	run.Value, run.OK, run.Note = exptable.Display(p.subject, v), ok && cr.err == nil, note
	return run
}

func errOr(err error, note string) any {
	if err != nil {
		return err
	}
	return note
}

func num(f float64) string { return fmt.Sprintf("%.1f", f) }

// loadAverage is the first three fields of /proc/loadavg ("" where there is none).
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	fields := strings.Fields(string(b))
	return strings.Join(fields[:min(3, len(fields))], " ")
}
