// Package export writes a result's raw series in formats other tools read:
// timeseries.csv (one row per interval) and per-stage HdrHistogram interval logs (.hlog).
package export

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/citybench/citybench/reports/result"
)

// TimeseriesFile is the CSV's file name in a run's output folder.
const TimeseriesFile = "timeseries.csv"

// IntervalStages lists the stages that appear in r's intervals, in pipeline order
// (unknown stages after, sorted) so the CSV's columns are stable between runs.
func IntervalStages(r *result.Result) []string {
	seen := map[string]bool{}
	for _, iv := range r.Intervals {
		for s := range iv.Stages {
			seen[s] = true
		}
	}
	var known, extra []string
	for _, s := range result.Stages {
		if seen[s] {
			known = append(known, s)
			delete(seen, s)
		}
	}
	for s := range seen {
		extra = append(extra, s)
	}
	slices.Sort(extra)
	return append(known, extra...)
}

// CSVHeader returns the CSV's columns for the given stages.
func CSVHeader(stages []string) []string {
	h := []string{"start_s", "offered", "errors", "connections", "gen_lag_p99_us"}
	for _, s := range stages {
		h = append(h, s+"_delivered", s+"_p50_us", s+"_p99_us", s+"_max_us")
	}
	return h
}

// WriteCSV writes one row per interval. A stage that saw nothing in an interval
// has empty latency cells (not zeros: zero would read as an instant delivery).
func WriteCSV(w io.Writer, r *result.Result) error {
	stages := IntervalStages(r)
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader(stages)); err != nil {
		return fmt.Errorf("write csv header: %w", err)
	}
	i64 := func(v int64) string { return strconv.FormatInt(v, 10) }
	for _, iv := range r.Intervals {
		row := []string{strconv.FormatFloat(iv.StartS, 'f', -1, 64), i64(iv.Offered), i64(iv.Errors), i64(iv.Connections), i64(iv.GenLagP99Us)}
		for _, s := range stages {
			st := iv.Stages[s]
			if st.Delivered == 0 {
				row = append(row, "0", "", "", "")
				continue
			}
			row = append(row, i64(st.Delivered), i64(st.P50Us), i64(st.P99Us), i64(st.MaxUs))
		}
		if err := cw.Write(row); err != nil {
			return fmt.Errorf("write csv row at %vs: %w", iv.StartS, err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	return nil
}

// HlogFile is the interval log's file name for a stage.
func HlogFile(stage string) string { return stage + ".hlog" }

// WriteHlog writes stage's per-interval latency histograms as an HdrHistogram
// interval log (HistogramLogWriter format, log format 1.3), timestamps relative to
// the run's start (the BaseTime line). Values are µs; the Interval_Max column is
// scaled by the writer's fixed ratio of 10^6, so it reads in seconds — HdrHistogram's
// HistogramLogProcessor wants -outputValueUnitRatio 1000 to print milliseconds.
// It returns how many intervals it wrote; intervals without a histogram are skipped.
func WriteHlog(w io.Writer, r *result.Result, stage string) (int, error) {
	startMs := r.Meta.StartedAt.UnixMilli()
	lw := hdrhistogram.NewHistogramLogWriter(w)
	lw.SetBaseTime(startMs)
	header := []func() error{
		func() error {
			return lw.OutputComment(fmt.Sprintf("[citybench %s, stage %s: latency = observed - intended, in microseconds]", r.Meta.Scenario, stage))
		},
		func() error {
			return lw.OutputComment(fmt.Sprintf("[intervals cover the whole run; result.json's summary covers only the measured window from %gs]", r.Meta.MeasuredFromS))
		},
		lw.OutputLogFormatVersion,
		func() error { return lw.OutputStartTime(startMs) },
		func() error { return lw.OutputBaseTime(startMs) },
		lw.OutputLegend,
	}
	for _, f := range header {
		if err := f(); err != nil {
			return 0, fmt.Errorf("write hlog header: %w", err)
		}
	}
	n := 0
	for _, iv := range r.Intervals {
		st, ok := iv.Stages[stage]
		if !ok || st.LatencyHDR == "" {
			continue
		}
		h, err := hdrhistogram.Decode([]byte(st.LatencyHDR))
		if err != nil {
			return n, fmt.Errorf("stage %s interval at %vs: decode histogram: %w", stage, iv.StartS, err)
		}
		from := startMs + int64(iv.StartS*1000)
		h.SetStartTimeMs(from)
		h.SetEndTimeMs(from + 1000)
		if err := lw.OutputIntervalHistogram(h); err != nil {
			return n, fmt.Errorf("stage %s interval at %vs: %w", stage, iv.StartS, err)
		}
		n++
	}
	return n, nil
}

// WriteAll writes timeseries.csv and one .hlog per stage that has interval histograms into dir.
func WriteAll(r *result.Result, dir string) error {
	if err := writeFile(filepath.Join(dir, TimeseriesFile), func(w io.Writer) error { return WriteCSV(w, r) }); err != nil {
		return err
	}
	for _, stage := range IntervalStages(r) {
		if !hasHDR(r, stage) {
			continue
		}
		err := writeFile(filepath.Join(dir, HlogFile(stage)), func(w io.Writer) error {
			_, err := WriteHlog(w, r, stage)
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func hasHDR(r *result.Result, stage string) bool {
	for _, iv := range r.Intervals {
		if iv.Stages[stage].LatencyHDR != "" {
			return true
		}
	}
	return false
}

func writeFile(path string, fill func(io.Writer) error) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create %s: %w", filepath.Base(path), err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close %s: %w", filepath.Base(path), cerr)
		}
	}()
	bw := bufio.NewWriter(f)
	if err := fill(bw); err != nil {
		return fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return nil
}
