package plots_test

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/citybench/citybench/reports/plots"
	"github.com/citybench/citybench/reports/result"
	"github.com/citybench/citybench/reports/synth"
)

func synthetic(t *testing.T) *result.Result {
	t.Helper()
	r, err := synth.Result(synth.WithSeed(7))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func line(t *testing.T, c plots.Chart, label string) plots.Series {
	t.Helper()
	for _, s := range c.Lines {
		if s.Label == label {
			return s
		}
	}
	t.Fatalf("chart %s has no series %q", c.Name, label)
	return plots.Series{}
}

func TestThroughputFollowsIntervals(t *testing.T) {
	r := synthetic(t)
	c := plots.Throughput(r)
	tests := []struct {
		label string
		want  func(iv result.Interval) float64
	}{
		{"offered", func(iv result.Interval) float64 { return float64(iv.Offered) }},
		{"sent", func(iv result.Interval) float64 { return float64(iv.Stages["sent"].Delivered) }},
		{"store", func(iv result.Interval) float64 { return float64(iv.Stages["store"].Delivered) }},
		{"api", func(iv result.Interval) float64 { return float64(iv.Stages["api"].Delivered) }},
	}
	for _, tc := range tests {
		t.Run(tc.label, func(t *testing.T) {
			s := line(t, c, tc.label)
			if len(s.Points) != len(r.Intervals) {
				t.Fatalf("%d points, want one per interval (%d)", len(s.Points), len(r.Intervals))
			}
			for i, iv := range r.Intervals {
				if s.Points[i].X != iv.StartS || s.Points[i].Y != tc.want(iv) {
					t.Fatalf("point %d = %+v, want (%v, %v)", i, s.Points[i], iv.StartS, tc.want(iv))
				}
			}
		})
	}
	if got := len(c.Lines); got != 1+len(result.Stages) {
		t.Errorf("%d series, want offered + %d stages", got, len(result.Stages))
	}
}

func TestStageLatencyInMilliseconds(t *testing.T) {
	r := &result.Result{Intervals: []result.Interval{
		{StartS: 0, Stages: map[string]result.IntervalStage{"store": {Delivered: 10, P50Us: 1500, P99Us: 9000, MaxUs: 12000}}},
		{StartS: 1, Stages: map[string]result.IntervalStage{"store": {Delivered: 0}}}, // nothing arrived: no point, not a zero
		{StartS: 2, Stages: map[string]result.IntervalStage{"store": {Delivered: 4, P50Us: 2000, P99Us: 4000, MaxUs: 4100}}},
	}}
	c := plots.StageLatency(r, "store")
	tests := []struct {
		label string
		want  []plots.Point
	}{
		{"p50", []plots.Point{{0, 1.5}, {2, 2}}},
		{"p99", []plots.Point{{0, 9}, {2, 4}}},
		{"max", []plots.Point{{0, 12}, {2, 4.1}}},
	}
	for _, tc := range tests {
		s := line(t, c, tc.label)
		if len(s.Points) != len(tc.want) {
			t.Fatalf("%s: %v, want %v", tc.label, s.Points, tc.want)
		}
		for i := range tc.want {
			if math.Abs(s.Points[i].X-tc.want[i].X) > 1e-9 || math.Abs(s.Points[i].Y-tc.want[i].Y) > 1e-9 {
				t.Errorf("%s[%d] = %v, want %v", tc.label, i, s.Points[i], tc.want[i])
			}
		}
	}
}

func TestSpectrumMatchesHistogram(t *testing.T) {
	// 10 000 values 1..10000 µs: quantile q sits at about q*100 µs.
	h := hdrhistogram.New(1, 3_600_000_000, 3)
	for v := int64(1); v <= 10000; v++ {
		_ = h.RecordValue(v)
	}
	enc, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		t.Fatal(err)
	}
	r := &result.Result{Stages: []result.StageSummary{{Stage: "kafka", LatencyHDR: string(enc), ServiceTimeHDR: string(enc)}}}
	c, err := plots.Spectrum(r, "kafka")
	if err != nil {
		t.Fatal(err)
	}
	lat := line(t, c, "latency (corrected)")
	if lat.Points[0].X != plots.NinesMin {
		t.Errorf("spectrum starts at %v, want %v (90 %%)", lat.Points[0].X, plots.NinesMin)
	}
	// 10 000 samples resolve up to 99.99 % (4 nines), no further.
	if last := lat.Points[len(lat.Points)-1].X; math.Abs(last-4) > 1e-6 {
		t.Errorf("spectrum ends at %v nines, want 4", last)
	}
	tests := []struct{ nines, wantMs float64 }{{1, 9.0}, {2, 9.9}, {3, 9.99}}
	for _, tc := range tests {
		for _, p := range lat.Points {
			if math.Abs(p.X-tc.nines) < 1e-6 && math.Abs(p.Y-tc.wantMs)/tc.wantMs > 0.002 {
				t.Errorf("at %v nines: %v ms, want %v", tc.nines, p.Y, tc.wantMs)
			}
		}
	}
	if len(c.Lines) != 2 {
		t.Errorf("want latency and service time side by side, got %d series", len(c.Lines))
	}
}

func TestSpectrumRejectsBadHistogram(t *testing.T) {
	r := &result.Result{Stages: []result.StageSummary{{Stage: "kafka", LatencyHDR: "not a histogram"}}}
	if _, err := plots.Spectrum(r, "kafka"); err == nil {
		t.Fatal("want an error for an undecodable histogram")
	}
}

func TestHopBreakdown(t *testing.T) {
	q := func(p50, p99 int64) result.Quantiles { return result.Quantiles{Count: 100, P50Us: p50, P99Us: p99} }
	r := &result.Result{Stages: []result.StageSummary{
		{Stage: "sent", Latency: q(100, 400)},
		{Stage: "acked", Latency: q(1100, 3400)},
		{Stage: "broker", Latency: q(900, 2400)},
		{Stage: "kafka", Latency: q(5900, 12400)},
		{Stage: "store", Latency: q(8900, 30400)},
	}}
	c := plots.HopBreakdown(r)
	wantCats := []string{"sent→acked", "sent→broker", "broker→kafka", "kafka→store"}
	wantP50 := []float64{1, 0.8, 5, 3}
	wantP99 := []float64{3, 2, 10, 18}
	if len(c.Categories) != len(wantCats) {
		t.Fatalf("categories %v, want %v (no api stage, so no store→api hop)", c.Categories, wantCats)
	}
	for i := range wantCats {
		if c.Categories[i] != wantCats[i] || math.Abs(c.Bars[0].Values[i]-wantP50[i]) > 1e-9 || math.Abs(c.Bars[1].Values[i]-wantP99[i]) > 1e-9 {
			t.Errorf("hop %d: %s p50 %v p99 %v, want %s %v %v", i, c.Categories[i], c.Bars[0].Values[i], c.Bars[1].Values[i], wantCats[i], wantP50[i], wantP99[i])
		}
	}
}

func TestAvailabilityUsesFinalUnsampledStage(t *testing.T) {
	r := &result.Result{
		Stages: []result.StageSummary{{Stage: "sent"}, {Stage: "store"}, {Stage: "api", Sampled: true}},
		Intervals: []result.Interval{
			{StartS: 0, Offered: 200, Stages: map[string]result.IntervalStage{"sent": {Delivered: 200}, "store": {Delivered: 150}, "api": {Delivered: 20}}},
			{StartS: 1, Offered: 0},
			{StartS: 2, Offered: 100, Stages: map[string]result.IntervalStage{"store": {Delivered: 100}}},
		},
		Phases: []result.Phase{{Name: "steady", StartS: 0, EndS: 3}},
		Faults: []result.FaultEvent{{AtS: 1, EndS: 2, Kind: "pause", Target: "broker"}},
	}
	c := plots.Availability(r)
	s := c.Lines[0]
	want := []plots.Point{{0, 75}, {2, 100}}
	if len(s.Points) != len(want) || s.Points[0] != want[0] || s.Points[1] != want[1] {
		t.Fatalf("availability %v, want %v", s.Points, want)
	}
	if len(c.Markers) != 2 || c.Markers[1].Kind != plots.MarkerFault || c.Markers[1].Label != "pause broker" || c.Markers[1].EndS != 2 {
		t.Errorf("markers %+v, want the phase then the fault span", c.Markers)
	}
}

func TestResourcesPerComponent(t *testing.T) {
	r := &result.Result{Resources: []result.ResourceSample{
		{AtS: 0, Component: "broker", CPUPercent: 50, MemoryBytes: 100 << 20},
		{AtS: 0, Component: "kafka", CPUPercent: 120, MemoryBytes: 512 << 20},
		{AtS: 1, Component: "broker", CPUPercent: 60, MemoryBytes: 101 << 20},
	}}
	cs := plots.Resources(r)
	if len(cs) != 2 {
		t.Fatalf("%d charts, want cpu and memory", len(cs))
	}
	if b := line(t, cs[0], "broker"); len(b.Points) != 2 || b.Points[1].Y != 60 {
		t.Errorf("broker cpu %v", b.Points)
	}
	if k := line(t, cs[1], "kafka"); len(k.Points) != 1 || k.Points[0].Y != 512 {
		t.Errorf("kafka memory %v, want 512 MiB", k.Points)
	}
	if got := plots.Resources(&result.Result{}); got != nil {
		t.Errorf("no samples should give no charts, got %d", len(got))
	}
}

func TestRenderEveryChart(t *testing.T) {
	r := synthetic(t)
	charts, errs := plots.All(r)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	out := os.Getenv("CITYBENCH_PLOT_DIR") // set it to look at the charts
	for _, c := range charts {
		for _, format := range []string{"png", "svg"} {
			b, err := plots.Render(c, format)
			if err != nil {
				t.Fatal(err)
			}
			magic := map[string][]byte{"png": []byte("\x89PNG"), "svg": []byte("<?xml")}[format]
			if !bytes.HasPrefix(b, magic) {
				t.Errorf("%s.%s does not look like %s", c.Name, format, format)
			}
			if out != "" {
				if err := os.WriteFile(filepath.Join(out, c.Name+"."+format), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if _, err := plots.Render(plots.Chart{Name: "empty", Title: "nothing", LogY: true}, "png"); err != nil {
		t.Errorf("an empty chart must still render: %v", err)
	}
}

func TestLogTicksLabelNarrowRanges(t *testing.T) {
	tests := []struct {
		name     string
		min, max float64
		want     []string
	}{
		{"less than two decades: 1-2-5", 150, 1200, []string{"200", "500", "1000"}},
		{"wide: powers of ten", 0.5, 2000, []string{"1", "10", "100", "1000"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, tk := range plots.LogTicks(tc.min, tc.max) {
				if tk.Label != "" {
					got = append(got, tk.Label)
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("labels %v, want %v", got, tc.want)
			}
		})
	}
}

func TestNiceTicks(t *testing.T) {
	tests := []struct {
		min, max float64
		want     string
	}{
		{0, 270, "0,50,100,150,200,250"},
		{0, 1, "0,0.2,0.4,0.6,0.8,1"},
		{0, 40, "0,5,10,15,20,25,30,35,40"},
		{-3, 12, "-2,0,2,4,6,8,10,12"},
	}
	for _, tc := range tests {
		var got []string
		for _, tk := range plots.NiceTicks(tc.min, tc.max) {
			if tk.Label != "" {
				got = append(got, tk.Label)
			}
		}
		if strings.Join(got, ",") != tc.want {
			t.Errorf("[%v, %v]: labels %v, want %s", tc.min, tc.max, got, tc.want)
		}
	}
}

func TestIntervalCharts(t *testing.T) {
	r := &result.Result{Intervals: []result.Interval{
		{StartS: 0, Errors: 2, Connections: 10, GenLagP99Us: 1500},
		{StartS: 1, Errors: 0, Connections: 12, GenLagP99Us: 250},
	}}
	tests := []struct {
		chart plots.Chart
		want  []float64
	}{
		{plots.Errors(r), []float64{2, 0}},
		{plots.Connections(r), []float64{10, 12}},
		{plots.GeneratorLag(r), []float64{1.5, 0.25}},
	}
	for _, tc := range tests {
		pts := tc.chart.Lines[0].Points
		if len(pts) != 2 || pts[0].Y != tc.want[0] || pts[1].Y != tc.want[1] || pts[1].X != 1 {
			t.Errorf("%s: %v, want y %v", tc.chart.Name, pts, tc.want)
		}
	}
}

func TestEveryChartOfAnEmptyResultRenders(t *testing.T) {
	charts, errs := plots.All(&result.Result{})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	for _, c := range charts {
		if !c.Empty() {
			t.Errorf("%s has data from an empty result", c.Name)
		}
		for _, format := range []string{"png", "svg"} {
			if _, err := plots.Render(c, format); err != nil {
				t.Errorf("%s.%s: %v", c.Name, format, err)
			}
		}
	}
}

func TestRenderSurvivesAwkwardData(t *testing.T) {
	tests := []plots.Chart{
		{Name: "log-all-zero", LogY: true, Lines: []plots.Series{{Label: "p50", Points: []plots.Point{{0, 0}, {1, 0}}}}},
		{Name: "one-point", Lines: []plots.Series{{Label: "x", Points: []plots.Point{{3, 7}}}}},
		{Name: "flat-zero", Lines: []plots.Series{{Label: "x", Points: []plots.Point{{0, 0}, {1, 0}}}}, Markers: []plots.Marker{{AtS: 0.5, Label: "fault", Kind: plots.MarkerFault, EndS: 5}}},
		{Name: "negative-bars", X: plots.XCategory, Categories: []string{"a→b"}, Bars: []plots.Bars{{Label: "p99 added", Values: []float64{-2}}}},
		{Name: "nines-one-point", X: plots.XNines, LogY: true, Lines: []plots.Series{{Label: "x", Points: []plots.Point{{1, 5}}}}},
	}
	for _, c := range tests {
		for _, format := range []string{"png", "svg"} {
			if _, err := plots.Render(c, format); err != nil {
				t.Errorf("%s.%s: %v", c.Name, format, err)
			}
		}
	}
}
