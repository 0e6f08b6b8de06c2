package compare_test

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/citybench/citybench/reports/compare"
	"github.com/citybench/citybench/reports/plots"
	"github.com/citybench/citybench/reports/result"
	"github.com/citybench/citybench/reports/synth"
)

// runs generates n repeated steady runs of one build, seeds from first.
func runs(t *testing.T, first uint64, n int, opts ...synth.Option) []*result.Result {
	t.Helper()
	var out []*result.Result
	for i := range n {
		o := append([]synth.Option{synth.WithSeed(first + uint64(i)), synth.WithDuration(20, 5), synth.WithoutFault(), synth.WithoutResources()}, opts...)
		r, err := synth.Result(o...)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// plantedP99 is a 30 % regression of everything above the 95th percentile: p99 moves, p50 does not.
var plantedP99 = synth.WithTailRegression(0.95, 1.3)

func row(t *testing.T, rep *compare.Report, name string) compare.Row {
	t.Helper()
	for _, r := range rep.Rows {
		if r.Name() == name {
			return r
		}
	}
	t.Fatalf("no row %s", name)
	return compare.Row{}
}

func TestSameBuildIsNotFlagged(t *testing.T) {
	// Several independent pairs of 5-run sets, so one lucky seed cannot make the test pass.
	for pair := range 4 {
		base := runs(t, uint64(100+20*pair), 5)
		cand := runs(t, uint64(110+20*pair), 5)
		rep, err := compare.Compare(base, cand)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Rows) != 5*len(result.Stages) {
			t.Fatalf("%d rows, want 5 metrics × %d stages", len(rep.Rows), len(result.Stages))
		}
		for _, r := range rep.Regressions() {
			t.Errorf("pair %d: false positive on %s: %v → %v (%.1f%%, p=%.3f)", pair, r.Name(), r.BaseMedian, r.CandMedian, r.DeltaPercent, r.P)
		}
		if got := row(t, rep, "store.p99").Method; got != compare.MethodUTest {
			t.Errorf("5 runs a side should use the U test, used %s", got)
		}
	}
}

func TestPlantedP99RegressionIsFlagged(t *testing.T) {
	base := runs(t, 1, 5)
	cand := runs(t, 11, 5, plantedP99)
	rep, err := compare.Compare(base, cand)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		metric     string
		regression bool
	}{
		{"store.p99", true},
		{"kafka.p99", true},
		{"broker.p99", true},
		{"store.p50", false}, // the plant leaves the median alone
		{"store.throughput", false},
		{"store.loss", false},
	}
	for _, tc := range tests {
		r := row(t, rep, tc.metric)
		if r.Regression != tc.regression {
			t.Errorf("%s: regression=%v, want %v (delta %.1f%%, p=%.4f)", tc.metric, r.Regression, tc.regression, r.DeltaPercent, r.P)
		}
	}
	if r := row(t, rep, "store.p99"); r.DeltaPercent < 20 || r.DeltaPercent > 40 || r.P >= 0.05 {
		t.Errorf("store.p99 delta %.1f%% p=%.4f, want about +30%% and significant", r.DeltaPercent, r.P)
	}
	var buf bytes.Buffer
	if err := compare.WriteText(&buf, rep); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "REGRESSION") || !strings.Contains(buf.String(), "Mann-Whitney") {
		t.Errorf("text report does not show the regression:\n%s", buf.String())
	}
}

func TestThresholdOnlyWithFewRuns(t *testing.T) {
	tests := []struct {
		name      string
		cand      []*result.Result
		wantFlags bool
	}{
		{"same build", runs(t, 42, 1), false},
		{"planted p99", runs(t, 42, 1, plantedP99), true},
	}
	base := runs(t, 7, 1)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// One run a side is noisy: the sampled API stage's p99 alone moves ±15 %, so gate on the store.
			rep, err := compare.Compare(base, tc.cand, compare.WithStages("store"))
			if err != nil {
				t.Fatal(err)
			}
			r := row(t, rep, "store.p99")
			if r.Method != compare.MethodThreshold || !math.IsNaN(r.P) {
				t.Errorf("1 run a side must use thresholds only, got %s p=%v", r.Method, r.P)
			}
			if got := len(rep.Regressions()) > 0; got != tc.wantFlags {
				t.Errorf("flagged=%v, want %v: %v", got, tc.wantFlags, rep.Regressions())
			}
		})
	}
}

func TestLimitsFromCommandLine(t *testing.T) {
	base := runs(t, 1, 5)
	cand := runs(t, 11, 5, plantedP99)
	tests := []struct {
		name  string
		specs []string
		flag  bool
	}{
		{"default flags it", nil, true},
		{"a looser p99 limit lets it pass", []string{"p99=50%,p99.9=50%"}, false},
		{"stage-qualified limit overrides the kind", []string{"p99=50%,p99.9=50%", "store.p99=10%"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			limits := map[string]compare.Limit{}
			if err := compare.ParseLimits(tc.specs, limits); err != nil {
				t.Fatal(err)
			}
			rep, err := compare.Compare(base, cand, compare.WithLimits(limits))
			if err != nil {
				t.Fatal(err)
			}
			if got := len(rep.Regressions()) > 0; got != tc.flag {
				t.Errorf("flagged=%v, want %v: %+v", got, tc.flag, rep.Regressions())
			}
		})
	}
}

func TestParseLimits(t *testing.T) {
	tests := []struct {
		spec    string
		want    map[string]float64
		wantErr bool
	}{
		{"p99=10%", map[string]float64{"p99": 10}, false},
		{"p50=5, throughput=2.5%", map[string]float64{"p50": 5, "throughput": 2.5}, false},
		{"store.p99.9=7%", map[string]float64{"store.p99.9": 7}, false},
		{"p99.9=7%", map[string]float64{"p99.9": 7}, false},
		{"p98=10%", nil, true},
		{"p99", nil, true},
		{"p99=-3%", nil, true},
	}
	for _, tc := range tests {
		got := map[string]compare.Limit{}
		err := compare.ParseLimits([]string{tc.spec}, got)
		if (err != nil) != tc.wantErr {
			t.Errorf("%q: err %v, wantErr %v", tc.spec, err, tc.wantErr)
			continue
		}
		for k, v := range tc.want {
			if got[k].Percent != v {
				t.Errorf("%q: %s = %v, want %v", tc.spec, k, got[k].Percent, v)
			}
		}
	}
}

func TestUTestPValue(t *testing.T) {
	// Fully separated 5 vs 5: the exact two-sided p is 2/C(10,5) = 2/252.
	base := runs(t, 1, 5)
	cand := runs(t, 11, 5, synth.WithTailRegression(0.5, 3))
	rep, err := compare.Compare(base, cand)
	if err != nil {
		t.Fatal(err)
	}
	if p := row(t, rep, "store.p99").P; math.Abs(p-2.0/252) > 1e-9 {
		t.Errorf("p = %v, want %v", p, 2.0/252)
	}
}

func TestWarnsAboutUntrustworthyRuns(t *testing.T) {
	base, cand := runs(t, 1, 2), runs(t, 3, 2)
	cand[1].Flags = append(cand[1].Flags, result.FlagGeneratorSaturated)
	rep, err := compare.Compare(base, cand)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], "1 of 2 candidate run(s) flagged generator_saturated") {
		t.Errorf("warnings %q", rep.Warnings)
	}
	var buf bytes.Buffer
	if err := compare.WriteMarkdown(&buf, rep); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "warning: 1 of 2 candidate") {
		t.Errorf("markdown lacks the warning:\n%s", buf.String())
	}
}

func TestRefusesToCompareNothing(t *testing.T) {
	rs := runs(t, 1, 1)
	tests := []struct {
		name string
		opts []compare.Option
		runs []*result.Result
	}{
		{"misspelt stage", []compare.Option{compare.WithStages("stor")}, rs},
		{"no stages at all", nil, []*result.Result{{Meta: rs[0].Meta}}},
	}
	for _, tc := range tests {
		if _, err := compare.Compare(tc.runs, tc.runs, tc.opts...); err == nil {
			t.Errorf("%s: want an error, a gate that compares nothing must not pass", tc.name)
		}
	}
}

func TestRefusesDifferentScenarios(t *testing.T) {
	a, b := runs(t, 1, 1), runs(t, 2, 1)
	b[0].Meta.ScenarioHash = "different"
	if _, err := compare.Compare(a, b); err == nil {
		t.Fatal("comparing different scenarios must fail")
	}
}

func TestLoadFilesAndDirectories(t *testing.T) {
	dir := t.TempDir()
	rs := runs(t, 1, 3)
	for i, r := range rs {
		sub := filepath.Join(dir, "runs", string(rune('a'+i)))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := r.Save(filepath.Join(sub, "result.json")); err != nil {
			t.Fatal(err)
		}
	}
	got, err := compare.Load([]string{filepath.Join(dir, "runs"), filepath.Join(dir, "runs", "a", "result.json")})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 {
		t.Errorf("loaded %d runs, want 3 from the directory and 1 file", len(got))
	}
	if _, err := compare.Load([]string{t.TempDir()}); err == nil {
		t.Error("a directory without results must be an error")
	}
}

func TestSpectrumChartPoolsRuns(t *testing.T) {
	base := runs(t, 1, 3)
	cand := runs(t, 11, 3, plantedP99)
	c, err := compare.SpectrumChart(base, cand, []string{"store"})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Lines) != 2 || c.Lines[0].Palette != c.Lines[1].Palette || !c.Lines[1].Dashed {
		t.Fatalf("want a solid baseline and dashed candidate in one colour, got %+v", c.Lines)
	}
	pooled, err := compare.MergedLatency(base, "store")
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, r := range base {
		sum += r.Stage("store").Latency.Count
	}
	if pooled.TotalCount() != sum {
		t.Errorf("pooled %d values, want %d", pooled.TotalCount(), sum)
	}
	// At 99 % (2 nines) the candidate is about 30 % slower.
	b, cd := c.Lines[0].Points, c.Lines[1].Points
	for i := range b {
		if math.Abs(b[i].X-2) < 1e-6 {
			if ratio := cd[i].Y / b[i].Y; ratio < 1.2 || ratio > 1.4 {
				t.Errorf("candidate/baseline at p99 = %.2f, want about 1.3", ratio)
			}
		}
	}
	if _, err := plots.Render(c, "png"); err != nil {
		t.Fatal(err)
	}
}

func TestThroughputOverMeasuredWindow(t *testing.T) {
	rs := runs(t, 1, 1) // 20 s run, 5 s warm-up, 300 msg/s
	rep, err := compare.Compare(rs, rs)
	if err != nil {
		t.Fatal(err)
	}
	got := row(t, rep, "store.throughput").BaseMedian
	want := float64(rs[0].Stage("store").Delivery.Delivered) / 15
	if math.Abs(got-want) > 1e-9 || math.Abs(got-300) > 3 {
		t.Errorf("throughput %v msg/s, want %v (about the offered 300)", got, want)
	}
}

// recorded holds 2 batches of 5 smoke runs of one build on the embedded target,
// recorded one batch after the other on a shared 2-core machine (generator-saturated:
// the noise is real and large).
const recorded = "testdata/embedded-smoke-2x5"

func TestRecordedSameBuildIsNotFlagged(t *testing.T) {
	a, err := compare.Load([]string{filepath.Join(recorded, "a")})
	if err != nil {
		t.Fatal(err)
	}
	b, err := compare.Load([]string{filepath.Join(recorded, "b")})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		base, cand []*result.Result
	}{{"a then b", a, b}, {"b then a", b, a}} {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := compare.Compare(tc.base, tc.cand)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rep.Regressions() {
				t.Errorf("false positive on %s: %.3f → %.3f %s (%+.1f%%, p=%.3f)", r.Name(), r.BaseMedian, r.CandMedian, r.Unit, r.DeltaPercent, r.P)
			}
			// Batch b ran while the host was quieter: acked's 1 ms median differs
			// significantly by a tenth of a millisecond (+10.4 % from b to a). The floor,
			// not luck, keeps that host drift from failing the gate.
			if r := row(t, rep, "acked.p50"); !r.Significant || !r.BelowFloor {
				t.Errorf("acked.p50: significant=%v below floor=%v, want both (recorded drift)", r.Significant, r.BelowFloor)
			}
		})
	}
}

// On these recordings a run's store p99 ranges from 48 ms to 604 ms: with 5 runs a
// side no test can see a 30 % shift, and the gate must say "no significant change"
// rather than guess. A shift larger than the spread is flagged.
func TestRecordedNoiseDecidesWhatIsDetectable(t *testing.T) {
	tests := []struct {
		factor int64 // ×10
		flag   bool
	}{
		{13, false},
		{100, true},
	}
	for _, tc := range tests {
		base, err := compare.Load([]string{filepath.Join(recorded, "a")})
		if err != nil {
			t.Fatal(err)
		}
		cand, err := compare.Load([]string{filepath.Join(recorded, "a")})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range cand {
			st := r.Stage("store")
			st.Latency.P99Us = st.Latency.P99Us * tc.factor / 10
		}
		rep, err := compare.Compare(base, cand)
		if err != nil {
			t.Fatal(err)
		}
		r := row(t, rep, "store.p99")
		if r.Regression != tc.flag {
			t.Errorf("store.p99 ×%.1f: regression=%v, want %v (%+.0f%%, p=%.3f)", float64(tc.factor)/10, r.Regression, tc.flag, r.DeltaPercent, r.P)
		}
		for _, other := range rep.Regressions() {
			if other.Name() != "store.p99" {
				t.Errorf("unplanted %s flagged", other.Name())
			}
		}
	}
}

func TestLatencyFloor(t *testing.T) {
	base := runs(t, 1, 5)
	cand := runs(t, 11, 5, plantedP99)
	tests := []struct {
		floorMs float64
		flagged bool
	}{
		{compare.DefaultLatencyFloorMs, true},
		{1000, false}, // the planted shift is tens of ms: under a 1 s floor it never counts
	}
	for _, tc := range tests {
		rep, err := compare.Compare(base, cand, compare.WithLatencyFloor(tc.floorMs))
		if err != nil {
			t.Fatal(err)
		}
		if r := row(t, rep, "store.p99"); r.Regression != tc.flagged {
			t.Errorf("floor %v ms: store.p99 regression=%v, want %v", tc.floorMs, r.Regression, tc.flagged)
		}
	}
}
