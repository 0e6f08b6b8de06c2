package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/citybench/citybench/harness/merge"
	"github.com/citybench/citybench/reports/result"
)

func newMergeCmd() *cobra.Command {
	var out string
	var noReport bool
	cmd := &cobra.Command{
		Use:   "merge DIR...",
		Short: "Build one result from the results of a run's segments (--segment i/n)",
		Long: `Merge reads the result.json of every segment of one run — each DIR is a run folder
or a result.json — and writes the one result they make: HdrHistograms merged
bucket by bucket with percentiles recomputed from them (never averaged), delivery
accounting and the per-second series summed, SLOs judged again on the merged
figures, and each segment's own generator lag kept under "workers". It refuses
results of different scenarios or seeds, and a set with a segment missing.

Exit status: 0 ok, 1 error, 2 results that are not one run, 99 an SLO failed.`,
		Example: `  citybench run scenarios/district.yaml --target external --segment 0/2 --start-at 2026-12-01T10:00:00Z --out seg/0
  citybench run scenarios/district.yaml --target external --segment 1/2 --start-at 2026-12-01T10:00:00Z --out seg/1
  citybench merge seg/0 seg/1 --out results/district-merged`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return withCode(exitInvalid, errors.New("merge: name the segments' run folders"))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			var parts []*result.Result
			for _, a := range args {
				path := a
				if st, err := os.Stat(a); err == nil && st.IsDir() {
					path = filepath.Join(a, "result.json")
				}
				r, err := result.Load(path)
				if err != nil {
					return withCode(exitInvalid, err)
				}
				parts = append(parts, r)
			}
			res, err := merge.Results(parts)
			if err != nil {
				return withCode(exitInvalid, err)
			}
			dir := out
			if dir == "" {
				dir = filepath.Join("results", fmt.Sprintf("%s-merged-%s", res.Meta.Scenario, time.Now().UTC().Format("20060102T150405Z")))
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("create output folder: %w", err)
			}
			res.Meta.Command = commandLine(cmd, args, nil)
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
			return finish(cmd.Context(), cmd, res, nil, dir, noReport, log)
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "output folder (default results/<scenario>-merged-<UTC time>)")
	cmd.Flags().BoolVar(&noReport, "no-report", false, "write result.json only, no plots or HTML")
	return cmd
}
