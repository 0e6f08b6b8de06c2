// Package reports turns one result into everything a person or a CI job reads:
// charts (PNG and SVG), timeseries.csv, per-stage .hlog files and index.html.
package reports

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/citybench/citybench/reports/export"
	"github.com/citybench/citybench/reports/htmlreport"
	"github.com/citybench/citybench/reports/plots"
	"github.com/citybench/citybench/reports/result"
)

// IndexFile is the report page's file name.
const IndexFile = "index.html"

type options struct {
	log     *slog.Logger
	workers int
}

// Option changes how Render works.
type Option func(*options)

// WithLogger logs progress and report problems to l.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithWorkers sets how many charts render at once (default 2: rendering is CPU-bound).
func WithWorkers(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.workers = n
		}
	}
}

// Render writes the full report for r into outDir (created if missing). A chart
// that cannot be computed (say, a corrupt histogram) is left out, named on the
// page, and returned as an error after everything else has been written.
func Render(ctx context.Context, r *result.Result, outDir string, opts ...Option) error {
	o := options{log: slog.New(slog.DiscardHandler), workers: 2}
	for _, opt := range opts {
		opt(&o)
	}
	if r == nil {
		return errors.New("render report: nil result")
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return fmt.Errorf("render report: %w", err)
	}
	charts, chartErrs := plots.All(r)
	var problems []string
	for _, err := range chartErrs {
		problems = append(problems, err.Error())
		o.log.Warn("chart left out of report", "err", err)
	}

	rendered, renderErrs, err := renderCharts(ctx, charts, outDir, o.workers)
	if err != nil {
		return fmt.Errorf("render report: %w", err)
	}
	for _, err := range renderErrs {
		problems = append(problems, err.Error())
		o.log.Warn("chart left out of report", "err", err)
	}
	chartErrs = append(chartErrs, renderErrs...)
	if err := export.WriteAll(r, outDir); err != nil {
		return fmt.Errorf("render report: %w", err)
	}
	files := []string{export.TimeseriesFile}
	for _, s := range export.IntervalStages(r) {
		if _, err := os.Stat(filepath.Join(outDir, export.HlogFile(s))); err == nil {
			files = append(files, export.HlogFile(s))
		}
	}
	if _, err := os.Stat(filepath.Join(outDir, "result.json")); err == nil {
		files = append([]string{"result.json"}, files...)
	}

	var page bytes.Buffer
	if err := htmlreport.Write(&page, r, htmlreport.Page{Charts: rendered, Files: files, Problems: problems}); err != nil {
		return fmt.Errorf("render report: %w", err)
	}
	if err := os.WriteFile(filepath.Join(outDir, IndexFile), page.Bytes(), 0o644); err != nil {
		return fmt.Errorf("render report: %w", err)
	}
	o.log.Info("report written", "dir", outDir, "charts", len(rendered))
	if len(chartErrs) > 0 {
		return fmt.Errorf("report written without %d chart(s): %w", len(chartErrs), errors.Join(chartErrs...))
	}
	return nil
}

// renderCharts draws every chart as PNG and SVG into dir, at most workers at a time,
// and returns those that rendered in the input order for the page, and why the others did not.
func renderCharts(ctx context.Context, charts []plots.Chart, dir string, workers int) ([]htmlreport.Chart, []error, error) {
	out := make([]htmlreport.Chart, len(charts))
	errs := make([]error, len(charts))
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				out[i], errs[i] = renderOne(charts[i], dir)
			}
		}()
	}
feed:
	for i := range charts {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("render charts: %w", err)
	}
	var ok []htmlreport.Chart
	var failed []error
	for i := range charts {
		if errs[i] != nil {
			failed = append(failed, errs[i])
			continue
		}
		ok = append(ok, out[i])
	}
	return ok, failed, nil
}

func renderOne(c plots.Chart, dir string) (hc htmlreport.Chart, err error) {
	// gonum/plot panics on some degenerate axes; one odd chart must not take down
	// the process that has just finished a long run.
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("chart %s: render panicked: %v", c.Name, p)
		}
	}()
	hc = htmlreport.Chart{Name: c.Name, Title: c.Title}
	if c.Empty() {
		hc.Title += " (no data)"
	}
	for _, format := range []string{"png", "svg"} {
		b, err := plots.Render(c, format)
		if err != nil {
			return hc, err
		}
		if err := os.WriteFile(filepath.Join(dir, c.Name+"."+format), b, 0o644); err != nil {
			return hc, fmt.Errorf("write chart: %w", err)
		}
		if format == "png" {
			hc.PNG = b
		}
	}
	return hc, nil
}
