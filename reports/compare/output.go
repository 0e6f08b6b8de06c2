package compare

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/citybench/citybench/reports/plots"
	"github.com/citybench/citybench/reports/result"
)

// Verdict is the row's one-word outcome.
func (r Row) Verdict() string {
	switch {
	case r.Regression:
		return "REGRESSION"
	case r.BelowFloor && r.Significant && r.Worse > 0:
		return "worse, below floor"
	case r.Significant && r.Worse < 0:
		return "improved"
	case r.Significant && r.Worse > 0:
		return "worse, within limit"
	case r.Method == MethodUTest:
		return "~ (no significant change)"
	default:
		return "within limit"
	}
}

func (r Row) limitString() string {
	if r.Kind == KindLoss {
		return fmt.Sprintf("+%g pp", r.Limit.Percent)
	}
	if r.HigherIsBetter {
		return fmt.Sprintf("-%g%%", r.Limit.Percent)
	}
	return fmt.Sprintf("+%g%%", r.Limit.Percent)
}

func (r Row) cells() []string {
	delta := "n/a"
	if r.Kind == KindLoss {
		delta = fmt.Sprintf("%+.3f pp", r.CandMedian-r.BaseMedian)
	} else if !math.IsNaN(r.DeltaPercent) {
		delta = fmt.Sprintf("%+.1f%%", r.DeltaPercent)
	}
	p := "—"
	if !math.IsNaN(r.P) {
		p = fmt.Sprintf("p=%.3f n=%d+%d", r.P, len(r.Baseline), len(r.Candidate))
	}
	return []string{r.Name(), num(r.BaseMedian) + " " + r.Unit, num(r.CandMedian) + " " + r.Unit, delta, p, r.limitString(), r.Verdict()}
}

var header = []string{"metric", "baseline", "candidate", "delta", "significance", "limit", "verdict"}

func num(f float64) string {
	switch a := math.Abs(f); {
	case a >= 100:
		return fmt.Sprintf("%.0f", f)
	case a >= 1:
		return fmt.Sprintf("%.2f", f)
	default:
		return fmt.Sprintf("%.3g", f)
	}
}

func (rep *Report) summary() string {
	how := fmt.Sprintf("Mann-Whitney U test, alpha %.2f", rep.Alpha)
	if rep.BaselineRuns < rep.MinRuns || rep.CandidateRuns < rep.MinRuns {
		how = fmt.Sprintf("thresholds only (fewer than %d runs a side; repeat runs for a significance test)", rep.MinRuns)
	}
	verdict := "no regression"
	if n := len(rep.Regressions()); n > 0 {
		verdict = fmt.Sprintf("%d regression(s)", n)
	}
	out := fmt.Sprintf("%d baseline run(s) vs %d candidate run(s); medians compared; %s: %s", rep.BaselineRuns, rep.CandidateRuns, how, verdict)
	for _, w := range rep.Warnings {
		out += "\nwarning: " + w
	}
	return out
}

// WriteText writes the comparison as an aligned plain-text table.
func WriteText(w io.Writer, rep *Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rep.Rows {
		fmt.Fprintln(tw, strings.Join(r.cells(), "\t"))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write comparison: %w", err)
	}
	if _, err := fmt.Fprintln(w, rep.summary()); err != nil {
		return fmt.Errorf("write comparison: %w", err)
	}
	return nil
}

// WriteMarkdown writes the comparison as a Markdown table, e.g. for a pull-request comment.
func WriteMarkdown(w io.Writer, rep *Report) error {
	var b strings.Builder
	b.WriteString("| " + strings.Join(header, " | ") + " |\n|")
	for range header {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, r := range rep.Rows {
		cells := r.cells()
		if r.Regression {
			cells[len(cells)-1] = "**REGRESSION**"
		}
		b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
	}
	b.WriteString("\n" + rep.summary() + "\n")
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write comparison: %w", err)
	}
	return nil
}

// MergedLatency merges one stage's latency histograms across runs: quantiles of the
// pooled distribution, never averages of per-run quantiles.
func MergedLatency(runs []*result.Result, stage string) (*hdrhistogram.Histogram, error) {
	var merged *hdrhistogram.Histogram
	for _, r := range runs {
		st := r.Stage(stage)
		if st == nil || st.LatencyHDR == "" {
			return nil, fmt.Errorf("stage %s: a run (seed %d) has no latency histogram", stage, r.Meta.Seed)
		}
		h, err := plots.Decode(st.LatencyHDR)
		if err != nil {
			return nil, fmt.Errorf("stage %s: %w", stage, err)
		}
		if merged == nil {
			merged = h
			continue
		}
		if dropped := merged.Merge(h); dropped > 0 {
			return nil, fmt.Errorf("stage %s: %d values out of range when merging runs", stage, dropped)
		}
	}
	return merged, nil
}

// SpectrumChart overlays the pooled latency spectra of baseline (solid) and candidate
// (dashed) for each stage, one colour per stage.
func SpectrumChart(baseline, candidate []*result.Result, stages []string) (plots.Chart, error) {
	c := plots.Chart{Name: "compare-spectrum", X: plots.XNines, LogY: true, XLabel: "percentile", YLabel: "latency since intended send (ms, log)",
		Title: fmt.Sprintf("Latency spectrum: baseline (solid, %d runs) vs candidate (dashed, %d runs) — %s", len(baseline), len(candidate), plots.Subject(baseline[0]))}
	if len(stages) == 0 {
		stages = commonStages(baseline, candidate)
	}
	for _, stage := range stages {
		b, err := MergedLatency(baseline, stage)
		if err != nil {
			return c, fmt.Errorf("baseline: %w", err)
		}
		cd, err := MergedLatency(candidate, stage)
		if err != nil {
			return c, fmt.Errorf("candidate: %w", err)
		}
		slot := slices.Index(result.Stages, stage) + 1
		if slot == 0 {
			slot = len(result.Stages) + 1
		}
		bs := plots.SpectrumSeries("baseline "+stage, b)
		cs := plots.SpectrumSeries("candidate "+stage, cd)
		bs.Palette, cs.Palette, cs.Dashed = slot, slot, true
		c.Lines = append(c.Lines, bs, cs)
	}
	return c, nil
}
