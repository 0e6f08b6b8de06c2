package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/citybench/citybench/reports"
	"github.com/citybench/citybench/reports/compare"
	"github.com/citybench/citybench/reports/plots"
	"github.com/citybench/citybench/reports/result"
)

// exitRegression is compare's exit code when the candidate regressed. It is the
// generic failure code: a CI step fails either way, and 2 stays "bad input".
const exitRegression = exitError

func newReportCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "report RESULT.json|capacity.json",
		Short: "Regenerate plots, timeseries.csv, .hlog files and index.html from a result.json (or a capacity.json)",
		Long: `Report rebuilds everything a run writes next to its result.json — charts (PNG and SVG),
timeseries.csv, one HdrHistogram interval log per stage and a self-contained index.html
that opens from file:// — from the result alone, so any old run can be re-reported.
Given a capacity.json it rebuilds the capacity search's charts and page.`,
		Example: `  citybench report results/smoke-20261121T230000Z/result.json
  citybench report result.json --out /tmp/smoke-report
  citybench report results/smoke-capacity-20261201T100000Z/capacity.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if filepath.Base(args[0]) == "capacity.json" {
				return reportCapacity(cmd, args[0], out)
			}
			r, err := result.Load(args[0])
			if err != nil {
				return withCode(exitInvalid, err)
			}
			dir := out
			if dir == "" {
				dir = filepath.Dir(args[0])
			}
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
			if err := reports.Render(cmd.Context(), r, dir, reports.WithLogger(log)); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "report: %s\n", filepath.Join(dir, reports.IndexFile))
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "output folder (default: the folder holding RESULT.json)")
	return cmd
}

func reportCapacity(cmd *cobra.Command, path, out string) error {
	c, err := result.LoadCapacity(path)
	if err != nil {
		return withCode(exitInvalid, err)
	}
	if out == "" {
		out = filepath.Dir(path)
	}
	if err := reports.RenderCapacity(cmd.Context(), c, out); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "report: %s\n", filepath.Join(out, reports.IndexFile))
	return nil
}

type compareFlags struct {
	candidates []string
	limits     []string
	stages     []string
	out        string
	alpha      float64
	minRuns    int
	floor      time.Duration
}

func newCompareCmd() *cobra.Command {
	var f compareFlags
	cmd := &cobra.Command{
		Use:   "compare BASELINE... --candidate CANDIDATE... | compare A B",
		Short: "Compare a candidate build's runs with a baseline's and fail on a regression",
		Long: `Compare reads result.json files (or folders searched for them: one per repeated run) and
prints, per stage, the change in latency p50/p99/p99.9, throughput and loss, baseline median
to candidate median.

With at least --min-runs runs on each side a change counts only when a Mann-Whitney U test
(as benchstat uses) finds it significant at --alpha; with fewer runs only the limits decide,
and single runs are noisy — repeat runs (5 a side) for a trustworthy gate.

A regression is a significant change for the worse beyond its limit. Default limits:
p50=10%, p99=15%, p99.9=25%, throughput=5% (drop), loss=0.1 (percentage points);
a latency change under --latency-floor (1ms) never counts.
Override by kind or for one stage: --max-regression p99=10%,store.p99.9=20%.

Writes compare.md (a Markdown table for a pull request) and compare-spectrum.png/.svg
(pooled spectra overlaid) into --out.

Exit status: 0 no regression, 1 regression (or error), 2 bad input.`,
		Example: `  citybench compare base/result.json cand/result.json
  citybench compare baseline-runs/ --candidate candidate-runs/ --max-regression p99=10%`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runCompare(cmd, args, f) },
	}
	cmd.Flags().StringArrayVar(&f.candidates, "candidate", nil, "candidate result.json or folder of runs (repeatable)")
	cmd.Flags().StringArrayVar(&f.limits, "max-regression", nil, "limit as metric=percent, e.g. p99=10% or store.throughput=3% (repeatable, comma-separated)")
	cmd.Flags().StringSliceVar(&f.stages, "stages", nil, "compare only these stages (default: every stage both sides have)")
	cmd.Flags().StringVar(&f.out, "out", "compare", "folder for compare.md and the spectrum plot (\"\" writes none)")
	cmd.Flags().Float64Var(&f.alpha, "alpha", 0.05, "significance level of the U test")
	cmd.Flags().IntVar(&f.minRuns, "min-runs", 5, "runs needed on each side for the U test")
	cmd.Flags().DurationVar(&f.floor, "latency-floor", time.Duration(compare.DefaultLatencyFloorMs*float64(time.Millisecond)), "latency changes smaller than this are never regressions (host noise)")
	return cmd
}

func runCompare(cmd *cobra.Command, args []string, f compareFlags) error {
	basePaths, candPaths := args, f.candidates
	if len(candPaths) == 0 {
		if len(args) != 2 {
			return withCode(exitInvalid, errors.New("compare: give A B, or BASELINE... --candidate CANDIDATE..."))
		}
		basePaths, candPaths = args[:1], args[1:]
	}
	limits := map[string]compare.Limit{}
	if err := compare.ParseLimits(f.limits, limits); err != nil {
		return withCode(exitInvalid, err)
	}
	if f.alpha <= 0 || f.alpha >= 1 || f.minRuns < 2 {
		return withCode(exitInvalid, fmt.Errorf("compare: --alpha must be in (0, 1) and --min-runs at least 2"))
	}
	base, err := compare.Load(basePaths)
	if err != nil {
		return withCode(exitInvalid, fmt.Errorf("baseline: %w", err))
	}
	cand, err := compare.Load(candPaths)
	if err != nil {
		return withCode(exitInvalid, fmt.Errorf("candidate: %w", err))
	}
	opts := []compare.Option{compare.WithLimits(limits), compare.WithAlpha(f.alpha), compare.WithMinRuns(f.minRuns),
		compare.WithLatencyFloor(float64(f.floor) / float64(time.Millisecond))}
	if len(f.stages) > 0 {
		opts = append(opts, compare.WithStages(f.stages...))
	}
	rep, err := compare.Compare(base, cand, opts...)
	if err != nil {
		return withCode(exitInvalid, err)
	}
	if err := compare.WriteText(cmd.OutOrStdout(), rep); err != nil {
		return err
	}
	if f.out != "" {
		if err := writeCompareFiles(f.out, rep, base, cand, f.stages); err != nil {
			return err
		}
	}
	if regs := rep.Regressions(); len(regs) > 0 {
		names := make([]string, len(regs))
		for i, r := range regs {
			names[i] = r.Name()
		}
		return withCode(exitRegression, fmt.Errorf("%d regression(s): %s", len(regs), strings.Join(names, ", ")))
	}
	return nil
}

func writeCompareFiles(dir string, rep *compare.Report, base, cand []*result.Result, stages []string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("compare output: %w", err)
	}
	md, err := os.Create(filepath.Join(dir, "compare.md"))
	if err != nil {
		return fmt.Errorf("compare output: %w", err)
	}
	werr := compare.WriteMarkdown(md, rep)
	if err := errors.Join(werr, md.Close()); err != nil {
		return fmt.Errorf("compare output: %w", err)
	}
	chart, err := compare.SpectrumChart(base, cand, stages)
	if err != nil {
		return fmt.Errorf("compare spectrum: %w", err)
	}
	for _, format := range []string{"png", "svg"} {
		b, err := plots.Render(chart, format)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, chart.Name+"."+format), b, 0o644); err != nil {
			return fmt.Errorf("compare output: %w", err)
		}
	}
	return nil
}
