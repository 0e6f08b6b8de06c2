// Package compare decides whether a candidate build regressed against a baseline:
// per-stage latency quantiles, throughput and loss across repeated runs, with a
// Mann-Whitney U test (as benchstat does) when both sides have enough runs.
package compare

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/aclements/go-moremath/stats"

	"github.com/citybench/citybench/reports/result"
)

// Kinds of metric, as used in thresholds ("p99=10%").
const (
	KindP50        = "p50"
	KindP99        = "p99"
	KindP999       = "p99.9"
	KindThroughput = "throughput"
	KindLoss       = "loss"
)

// Kinds lists every metric kind in table order.
var Kinds = []string{KindP50, KindP99, KindP999, KindThroughput, KindLoss}

// Limit is how much worse a metric may get before it is a regression.
// Latency and throughput limits are relative (percent of the baseline);
// the loss limit is absolute, in percentage points, because a baseline loss of 0 has no ratio.
type Limit struct {
	Percent float64
}

// DefaultLimits are wide enough that repeated runs of one build on a shared
// machine do not trip them, and narrow enough to catch a 30 % tail regression.
func DefaultLimits() map[string]Limit {
	return map[string]Limit{
		KindP50:        {Percent: 10},
		KindP99:        {Percent: 15},
		KindP999:       {Percent: 25},
		KindThroughput: {Percent: 5},
		KindLoss:       {Percent: 0.1},
	}
}

// ParseLimits reads "p99=10%,throughput=3%" (repeatable). A key may name one
// stage ("store.p99=5%"), which overrides the kind's limit for that stage only.
func ParseLimits(specs []string, into map[string]Limit) error {
	var errs []error
	for _, spec := range specs {
		for _, part := range strings.Split(spec, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			key, val, ok := strings.Cut(part, "=")
			if !ok {
				errs = append(errs, fmt.Errorf("limit %q: want metric=percent, e.g. p99=10%%", part))
				continue
			}
			kind := key
			for _, k := range Kinds {
				if strings.HasSuffix(key, "."+k) {
					kind = k
				}
			}
			if !slices.Contains(Kinds, kind) {
				errs = append(errs, fmt.Errorf("limit %q: unknown metric %q (want one of %s, optionally stage-qualified)", part, kind, strings.Join(Kinds, ", ")))
				continue
			}
			pct, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(val), "%"), 64)
			if err != nil || pct < 0 {
				errs = append(errs, fmt.Errorf("limit %q: %q is not a non-negative percentage", part, val))
				continue
			}
			into[key] = Limit{Percent: pct}
		}
	}
	return errors.Join(errs...)
}

// Metric is one figure read from every run.
type Metric struct {
	Stage, Kind string
	Unit        string
	// HigherIsBetter is true for throughput; latency and loss are better lower.
	HigherIsBetter bool
	value          func(*result.Result) (float64, bool)
}

// Name is "stage.kind", e.g. "store.p99".
func (m Metric) Name() string { return m.Stage + "." + m.Kind }

func stageMetrics(stage string) []Metric {
	lat := func(kind string, pick func(result.Quantiles) int64) Metric {
		return Metric{Stage: stage, Kind: kind, Unit: "ms", value: func(r *result.Result) (float64, bool) {
			st := r.Stage(stage)
			if st == nil || st.Latency.Count == 0 {
				return 0, false
			}
			return float64(pick(st.Latency)) / 1000, true
		}}
	}
	return []Metric{
		lat(KindP50, func(q result.Quantiles) int64 { return q.P50Us }),
		lat(KindP99, func(q result.Quantiles) int64 { return q.P99Us }),
		lat(KindP999, func(q result.Quantiles) int64 { return q.P999Us }),
		{Stage: stage, Kind: KindThroughput, Unit: "msg/s", HigherIsBetter: true, value: func(r *result.Result) (float64, bool) {
			st := r.Stage(stage)
			// DurationS is the measured window (after warm-up), as the harness writes it.
			if st == nil || r.Meta.DurationS <= 0 {
				return 0, false
			}
			return float64(st.Delivery.Delivered) / r.Meta.DurationS, true
		}},
		{Stage: stage, Kind: KindLoss, Unit: "%", value: func(r *result.Result) (float64, bool) {
			st := r.Stage(stage)
			if st == nil || st.Delivery.Expected == 0 {
				return 0, false
			}
			return 100 * float64(st.Delivery.Lost) / float64(st.Delivery.Expected), true
		}},
	}
}

// Method says how a row's significance was decided.
type Method string

const (
	MethodUTest     Method = "Mann-Whitney U"
	MethodThreshold Method = "threshold only"
)

// Row is one metric compared.
type Row struct {
	Metric
	Baseline, Candidate []float64
	// BaseMedian and CandMedian summarise each side (the median, as benchstat reports).
	BaseMedian, CandMedian float64
	// DeltaPercent is (candidate − baseline) / baseline × 100; NaN when the baseline is 0.
	DeltaPercent float64
	// Worse is how much worse the candidate is, in the limit's unit: percent for latency and
	// throughput, percentage points for loss. Zero or negative means not worse.
	Worse float64
	Limit Limit
	// P is the U test's p-value; NaN when the test was not run.
	P      float64
	Method Method
	// Significant is true when the difference is unlikely to be noise (p < alpha); with
	// threshold-only comparisons, when it exceeds the limit in either direction.
	Significant bool
	Regression  bool
	// BelowFloor is true when a latency moved less than the floor: never a regression.
	BelowFloor bool
}

// Report is the whole comparison.
type Report struct {
	BaselineRuns, CandidateRuns int
	Alpha                       float64
	MinRuns                     int
	Rows                        []Row
	// Warnings name runs whose figures deserve less trust (partial, generator-saturated).
	Warnings []string
}

// Regressions returns the rows that regressed.
func (r *Report) Regressions() []Row {
	var out []Row
	for _, row := range r.Rows {
		if row.Regression {
			out = append(out, row)
		}
	}
	return out
}

type config struct {
	limits  map[string]Limit
	alpha   float64
	minRuns int
	stages  []string
	floorMs float64
}

// Option changes how Compare judges.
type Option func(*config)

// WithLimits overrides default limits by kind ("p99") or stage-qualified kind ("store.p99").
func WithLimits(l map[string]Limit) Option {
	return func(c *config) {
		for k, v := range l {
			c.limits[k] = v
		}
	}
}

// WithAlpha sets the significance level (default 0.05, as benchstat).
func WithAlpha(a float64) Option { return func(c *config) { c.alpha = a } }

// WithMinRuns sets how many runs each side needs for the U test (default 5);
// with fewer, only the thresholds decide.
func WithMinRuns(n int) Option { return func(c *config) { c.minRuns = n } }

// DefaultLatencyFloorMs is the smallest latency change that can be a regression. On a
// shared host, scheduler noise moves a 1 ms median by a tenth of a millisecond between
// batches of runs — a significant "+10 %" that no user would ever notice.
const DefaultLatencyFloorMs = 1.0

// WithLatencyFloor sets the smallest latency change (ms) that counts as a regression.
func WithLatencyFloor(ms float64) Option { return func(c *config) { c.floorMs = ms } }

// WithStages restricts the comparison to these stages.
func WithStages(stages ...string) Option { return func(c *config) { c.stages = stages } }

// Compare judges candidate runs against baseline runs.
func Compare(baseline, candidate []*result.Result, opts ...Option) (*Report, error) {
	c := config{limits: DefaultLimits(), alpha: 0.05, minRuns: 5, floorMs: DefaultLatencyFloorMs}
	for _, o := range opts {
		o(&c)
	}
	if len(baseline) == 0 || len(candidate) == 0 {
		return nil, fmt.Errorf("compare: need at least one baseline and one candidate run (got %d and %d)", len(baseline), len(candidate))
	}
	if err := sameScenario(baseline, candidate); err != nil {
		return nil, err
	}
	stages := c.stages
	if len(stages) == 0 {
		stages = commonStages(baseline, candidate)
	}
	rep := &Report{BaselineRuns: len(baseline), CandidateRuns: len(candidate), Alpha: c.alpha, MinRuns: c.minRuns,
		Warnings: append(warnings("baseline", baseline), warnings("candidate", candidate)...)}
	useU := len(baseline) >= c.minRuns && len(candidate) >= c.minRuns
	for _, stage := range stages {
		for _, m := range stageMetrics(stage) {
			base, bok := values(m, baseline)
			cand, cok := values(m, candidate)
			if !bok || !cok {
				continue
			}
			row := judge(m, base, cand, c.limitFor(m), useU, c.alpha)
			if m.Unit == "ms" && math.Abs(row.CandMedian-row.BaseMedian) < c.floorMs {
				row.Regression = false
				row.BelowFloor = true
			}
			rep.Rows = append(rep.Rows, row)
		}
	}
	// A gate that compared nothing must not pass silently (e.g. a misspelt --stages).
	for _, stage := range stages {
		if !slices.ContainsFunc(rep.Rows, func(r Row) bool { return r.Stage == stage }) {
			return nil, fmt.Errorf("compare: stage %q has no figures in every run (stages here: %s)", stage, strings.Join(commonStages(baseline, candidate), ", "))
		}
	}
	if len(rep.Rows) == 0 {
		return nil, errors.New("compare: the runs share no stage with figures")
	}
	return rep, nil
}

// warnings counts the runs a gate should trust less: a partial run covers less than
// planned, and a saturated generator measured the harness rather than the system.
func warnings(side string, runs []*result.Result) []string {
	var out []string
	for _, flag := range []string{result.FlagPartial, result.FlagGeneratorSaturated} {
		n := 0
		for _, r := range runs {
			if r.HasFlag(flag) {
				n++
			}
		}
		if n > 0 {
			out = append(out, fmt.Sprintf("%d of %d %s run(s) flagged %s", n, len(runs), side, flag))
		}
	}
	return out
}

func (c config) limitFor(m Metric) Limit {
	if l, ok := c.limits[m.Name()]; ok {
		return l
	}
	return c.limits[m.Kind]
}

func judge(m Metric, base, cand []float64, limit Limit, useU bool, alpha float64) Row {
	row := Row{Metric: m, Baseline: base, Candidate: cand, Limit: limit, P: math.NaN(),
		BaseMedian: Median(base), CandMedian: Median(cand)}
	row.DeltaPercent = math.NaN()
	if row.BaseMedian != 0 {
		row.DeltaPercent = 100 * (row.CandMedian - row.BaseMedian) / math.Abs(row.BaseMedian)
	}
	switch {
	case m.Kind == KindLoss:
		row.Worse = row.CandMedian - row.BaseMedian // percentage points
	case math.IsNaN(row.DeltaPercent):
		row.Worse = 0
	case m.HigherIsBetter:
		row.Worse = -row.DeltaPercent
	default:
		row.Worse = row.DeltaPercent
	}
	if useU {
		row.Method = MethodUTest
		res, err := stats.MannWhitneyUTest(base, cand, stats.LocationDiffers)
		switch {
		case err == nil:
			row.P = res.P
			row.Significant = res.P < alpha
		case errors.Is(err, stats.ErrSamplesEqual):
			row.P = 1 // identical samples: no difference at all
		}
	} else {
		row.Method = MethodThreshold
		// Without a test, only a change beyond the limit (either way) is taken as real.
		row.Significant = math.Abs(row.Worse) > limit.Percent
	}
	row.Regression = row.Significant && row.Worse > limit.Percent
	return row
}

func values(m Metric, runs []*result.Result) ([]float64, bool) {
	out := make([]float64, 0, len(runs))
	for _, r := range runs {
		v, ok := m.value(r)
		if !ok {
			return nil, false
		}
		out = append(out, v)
	}
	return out, true
}

// Median is the middle of xs (the mean of the middle two for an even count), NaN for none.
func Median(xs []float64) float64 {
	s := slices.Clone(xs)
	sort.Float64s(s)
	n := len(s)
	if n == 0 {
		return math.NaN()
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// commonStages are the stages every run has a summary for, in pipeline order.
func commonStages(sets ...[]*result.Result) []string {
	var out []string
	for _, stage := range result.Stages {
		all := true
		for _, runs := range sets {
			for _, r := range runs {
				if r.Stage(stage) == nil {
					all = false
				}
			}
		}
		if all {
			out = append(out, stage)
		}
	}
	return out
}

// sameScenario refuses to compare runs of different scenarios: the deltas would mean nothing.
func sameScenario(sets ...[]*result.Result) error {
	first := sets[0][0]
	for _, runs := range sets {
		for _, r := range runs {
			if r.Meta.Scenario != first.Meta.Scenario || r.Meta.ScenarioHash != first.Meta.ScenarioHash {
				return fmt.Errorf("compare: runs of different scenarios (%s %s vs %s %s)",
					first.Meta.Scenario, first.Meta.ScenarioHash, r.Meta.Scenario, r.Meta.ScenarioHash)
			}
		}
	}
	return nil
}

// ResultFile is the name Load looks for inside directories.
const ResultFile = "result.json"

// Load reads runs from paths: each a result.json file or a directory searched
// recursively for result.json files (one per repeated run).
func Load(paths []string) ([]*result.Result, error) {
	var files []string
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("load runs: %w", err)
		}
		if !fi.IsDir() {
			files = append(files, p)
			continue
		}
		found := 0
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && d.Name() == ResultFile {
				files = append(files, path)
				found++
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("load runs from %s: %w", p, err)
		}
		if found == 0 {
			return nil, fmt.Errorf("load runs: no %s under %s", ResultFile, p)
		}
	}
	runs := make([]*result.Result, 0, len(files))
	for _, f := range files {
		r, err := result.Load(f)
		if err != nil {
			return nil, fmt.Errorf("load runs: %w", err)
		}
		runs = append(runs, r)
	}
	return runs, nil
}
