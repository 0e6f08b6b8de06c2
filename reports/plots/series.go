// Package plots turns a result into charts: pure functions compute each chart's
// series from a *result.Result alone (so tests check values, not pixels), and a
// renderer draws any chart to PNG or SVG with gonum/plot.
package plots

import (
	"encoding/base64"
	"fmt"
	"math"
	"sort"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/citybench/citybench/reports/result"
)

// XAxis says how a chart's x values are to be read.
type XAxis int

const (
	XTime  XAxis = iota // seconds since the run started
	XNines              // -log10(1 − quantile): 1 = 90 %, 2 = 99 %, … 5 = 99.999 %
	XCategory
)

// MarkerKind distinguishes schedule phases from injected faults.
type MarkerKind int

const (
	MarkerPhase MarkerKind = iota
	MarkerFault
)

// Point is one (x, y) value.
type Point struct{ X, Y float64 }

// Series is one labelled line.
type Series struct {
	Label  string
	Points []Point
	Dashed bool
	// Palette picks the colour: 0 colours by position, n uses palette slot n−1,
	// so paired series (baseline and candidate of one stage) can share a colour.
	Palette int
}

// Bars is one labelled group of bar values, one per chart category.
type Bars struct {
	Label  string
	Values []float64
}

// Marker is a vertical annotation at AtS (a span up to EndS when EndS > AtS).
type Marker struct {
	AtS, EndS float64
	Label     string
	Kind      MarkerKind
}

// Chart is everything needed to draw one plot.
type Chart struct {
	Name           string // file stem, e.g. "throughput"
	Title          string
	XLabel, YLabel string
	X              XAxis
	LogY           bool
	Lines          []Series
	Categories     []string // for XCategory charts
	Bars           []Bars
	Markers        []Marker
}

// Empty reports whether the chart has nothing to draw.
func (c Chart) Empty() bool {
	for _, s := range c.Lines {
		if len(s.Points) > 0 {
			return false
		}
	}
	for _, b := range c.Bars {
		if len(b.Values) > 0 {
			return false
		}
	}
	return true
}

// Subject names what ran, for chart titles.
func Subject(r *result.Result) string {
	s := r.Meta.Scenario
	if s == "" {
		s = "unnamed scenario"
	}
	if r.Meta.Target.Kind != "" {
		s += " on " + r.Meta.Target.Kind
	}
	return s
}

// stagesPresent lists the stages the result has data for, in pipeline order.
func stagesPresent(r *result.Result) []string {
	seen := map[string]bool{}
	for _, st := range r.Stages {
		seen[st.Stage] = true
	}
	for _, iv := range r.Intervals {
		for name := range iv.Stages {
			seen[name] = true
		}
	}
	var out []string
	for _, s := range result.Stages {
		if seen[s] {
			out = append(out, s)
			delete(seen, s)
		}
	}
	// Stages this build does not know about still get drawn, after the known ones.
	var extra []string
	for s := range seen {
		extra = append(extra, s)
	}
	sort.Strings(extra)
	return append(out, extra...)
}

// Markers returns phase boundaries and fault spans as chart markers.
func Markers(r *result.Result) []Marker {
	var ms []Marker
	for _, p := range r.Phases {
		ms = append(ms, Marker{AtS: p.StartS, Label: p.Name, Kind: MarkerPhase})
	}
	for _, f := range r.Faults {
		label := f.Kind
		if f.Target != "" {
			label += " " + f.Target
		}
		ms = append(ms, Marker{AtS: f.AtS, EndS: f.EndS, Label: label, Kind: MarkerFault})
	}
	return ms
}

// Throughput is messages per second over time: offered, then delivered per stage.
func Throughput(r *result.Result) Chart {
	c := Chart{Name: "throughput", Title: "Throughput — " + Subject(r), XLabel: "time since start (s)", YLabel: "messages / s", Markers: Markers(r)}
	offered := Series{Label: "offered", Dashed: true}
	for _, iv := range r.Intervals {
		offered.Points = append(offered.Points, Point{iv.StartS, float64(iv.Offered)})
	}
	c.Lines = append(c.Lines, offered)
	for _, stage := range stagesPresent(r) {
		s := Series{Label: stage}
		for _, iv := range r.Intervals {
			st, ok := iv.Stages[stage]
			if !ok {
				continue
			}
			s.Points = append(s.Points, Point{iv.StartS, float64(st.Delivered)})
		}
		c.Lines = append(c.Lines, s)
	}
	return c
}

// StageLatency is one stage's per-interval p50, p99 and max latency, in ms.
func StageLatency(r *result.Result, stage string) Chart {
	c := Chart{Name: "latency-" + stage, Title: fmt.Sprintf("Latency at %s over time — %s", stage, Subject(r)),
		XLabel: "time since start (s)", YLabel: "latency since intended send (ms, log)", LogY: true, Markers: Markers(r)}
	p50, p99, mx := Series{Label: "p50"}, Series{Label: "p99"}, Series{Label: "max", Dashed: true}
	for _, iv := range r.Intervals {
		st, ok := iv.Stages[stage]
		if !ok || st.Delivered == 0 {
			continue
		}
		p50.Points = append(p50.Points, Point{iv.StartS, usToMs(st.P50Us)})
		p99.Points = append(p99.Points, Point{iv.StartS, usToMs(st.P99Us)})
		mx.Points = append(mx.Points, Point{iv.StartS, usToMs(st.MaxUs)})
	}
	c.Lines = []Series{p50, p99, mx}
	return c
}

// NinesMin and NinesMax bound the spectrum's x axis: 90 % to 99.999 %.
const (
	NinesMin  = 1.0
	NinesMax  = 5.0
	ninesStep = 0.05
)

// Quantile converts a nines x value back to a percentile (2 → 99).
func Quantile(nines float64) float64 { return 100 * (1 - math.Pow(10, -nines)) }

// Decode reads a base64 V2-compressed HdrHistogram as the result stores it.
func Decode(b64 string) (*hdrhistogram.Histogram, error) {
	if b64 == "" {
		return nil, fmt.Errorf("no histogram recorded")
	}
	// Decode base64-decodes itself; check first for a clearer error on garbage.
	if _, err := base64.StdEncoding.DecodeString(b64); err != nil {
		return nil, fmt.Errorf("histogram is not base64: %w", err)
	}
	h, err := hdrhistogram.Decode([]byte(b64))
	if err != nil {
		return nil, fmt.Errorf("decode histogram: %w", err)
	}
	return h, nil
}

// SpectrumSeries samples h from 90 % to 99.999 % on the nines axis, in ms.
// The walk stops at the histogram's resolution: beyond 1/count the quantile is the max.
func SpectrumSeries(label string, h *hdrhistogram.Histogram) Series {
	s := Series{Label: label}
	if h == nil || h.TotalCount() == 0 {
		return s
	}
	limit := math.Min(NinesMax, math.Log10(float64(h.TotalCount())))
	for x := NinesMin; x <= limit+1e-9; x += ninesStep {
		s.Points = append(s.Points, Point{x, usToMs(h.ValueAtQuantile(Quantile(x)))})
	}
	return s
}

// Spectrum is one stage's percentile spectrum: corrected latency (observed − intended)
// beside service time (observed − sent), which is what a closed-loop tool would report.
func Spectrum(r *result.Result, stage string) (Chart, error) {
	c := Chart{Name: "spectrum-" + stage, Title: fmt.Sprintf("Percentile spectrum at %s — %s", stage, Subject(r)),
		XLabel: "percentile", YLabel: "ms (log)", X: XNines, LogY: true}
	st := r.Stage(stage)
	if st == nil {
		return c, fmt.Errorf("stage %s: no summary in result", stage)
	}
	lat, err := Decode(st.LatencyHDR)
	if err != nil {
		return c, fmt.Errorf("stage %s latency: %w", stage, err)
	}
	c.Lines = append(c.Lines, SpectrumSeries("latency (corrected)", lat))
	if st.ServiceTimeHDR != "" {
		svc, err := Decode(st.ServiceTimeHDR)
		if err != nil {
			return c, fmt.Errorf("stage %s service time: %w", stage, err)
		}
		s := SpectrumSeries("service time (uncorrected)", svc)
		s.Dashed = true
		c.Lines = append(c.Lines, s)
	}
	return c, nil
}

// SpectrumAll overlays every stage's corrected latency spectrum.
func SpectrumAll(r *result.Result) (Chart, error) {
	c := Chart{Name: "spectrum", Title: "Latency percentile spectrum, all stages — " + Subject(r),
		XLabel: "percentile", YLabel: "latency since intended send (ms, log)", X: XNines, LogY: true}
	for _, st := range r.Stages {
		if st.LatencyHDR == "" {
			continue
		}
		h, err := Decode(st.LatencyHDR)
		if err != nil {
			return c, fmt.Errorf("stage %s: %w", st.Stage, err)
		}
		c.Lines = append(c.Lines, SpectrumSeries(st.Stage, h))
	}
	return c, nil
}

// Hop is one step of the pipeline: the latency it adds is to's minus from's.
type Hop struct{ From, To string }

// Hops in pipeline order. acked and broker both follow sent: they are two views of the publish.
var Hops = []Hop{
	{result.StageSent, result.StageAcked},
	{result.StageSent, result.StageBroker},
	{result.StageBroker, result.StageKafka},
	{result.StageKafka, result.StageStore},
	{result.StageStore, result.StageAPI},
}

// HopBreakdown is the median and p99 each hop adds, in ms. Quantiles do not add up,
// so these are differences of per-stage quantiles: a guide to where time goes, not an exact split.
// A negative value (possible for p99 under a sampled stage) is kept, not hidden.
func HopBreakdown(r *result.Result) Chart {
	c := Chart{Name: "hops", Title: "Latency added per hop — " + Subject(r), XLabel: "hop", YLabel: "added latency (ms)", X: XCategory}
	p50, p99 := Bars{Label: "median added"}, Bars{Label: "p99 added"}
	for _, h := range Hops {
		from, to := r.Stage(h.From), r.Stage(h.To)
		if from == nil || to == nil || from.Latency.Count == 0 || to.Latency.Count == 0 {
			continue
		}
		c.Categories = append(c.Categories, h.From+"→"+h.To)
		p50.Values = append(p50.Values, usToMs(to.Latency.P50Us-from.Latency.P50Us))
		p99.Values = append(p99.Values, usToMs(to.Latency.P99Us-from.Latency.P99Us))
	}
	c.Bars = []Bars{p50, p99}
	return c
}

// FinalStage is the last stage in pipeline order that delivers every message
// (the sampled API poll does not): availability over time is measured there.
func FinalStage(r *result.Result) string {
	final := ""
	for _, s := range stagesPresent(r) {
		if st := r.Stage(s); st != nil && st.Sampled {
			continue
		}
		final = s
	}
	return final
}

// Availability is, per second of intended send time, the share of the messages
// due then that the final stage delivered within the availability deadline.
// Results without per-second deadline counts fall back to delivered / offered.
func Availability(r *result.Result) Chart {
	stage := FinalStage(r)
	c := Chart{Name: "availability", Title: fmt.Sprintf("Availability at %s — %s", stage, Subject(r)),
		XLabel: "time since start (s)", YLabel: "delivered within deadline / expected (%)", Markers: Markers(r)}
	s := Series{Label: stage + " within deadline / expected"}
	for _, iv := range r.Intervals {
		if is := iv.Stages[stage]; is.Expected > 0 {
			s.Points = append(s.Points, Point{iv.StartS, 100 * float64(is.OnTime) / float64(is.Expected)})
		}
	}
	if len(s.Points) == 0 {
		c.YLabel = "delivered / offered (%)"
		s.Label = stage + " delivered / offered"
		for _, iv := range r.Intervals {
			if iv.Offered > 0 {
				s.Points = append(s.Points, Point{iv.StartS, 100 * float64(iv.Stages[stage].Delivered) / float64(iv.Offered)})
			}
		}
	}
	c.Lines = []Series{s}
	return c
}

// intervalChart plots one per-interval figure against time, with phase and fault markers.
func intervalChart(r *result.Result, name, title, yLabel, label string, y func(result.Interval) float64) Chart {
	c := Chart{Name: name, Title: title + " — " + Subject(r), XLabel: "time since start (s)", YLabel: yLabel, Markers: Markers(r)}
	s := Series{Label: label}
	for _, iv := range r.Intervals {
		s.Points = append(s.Points, Point{iv.StartS, y(iv)})
	}
	c.Lines = []Series{s}
	return c
}

// Errors is errors per second over time.
func Errors(r *result.Result) Chart {
	return intervalChart(r, "errors", "Errors", "errors / s", "errors", func(iv result.Interval) float64 { return float64(iv.Errors) })
}

// Connections is open device connections over time.
func Connections(r *result.Result) Chart {
	return intervalChart(r, "connections", "Device connections", "open connections", "connections",
		func(iv result.Interval) float64 { return float64(iv.Connections) })
}

// GeneratorLag is the per-interval p99 of sent − intended: when it climbs, the generator is the bottleneck.
func GeneratorLag(r *result.Result) Chart {
	return intervalChart(r, "generator-lag", "Generator lag p99", "sent − intended (ms)", "p99",
		func(iv result.Interval) float64 { return usToMs(iv.GenLagP99Us) })
}

// Resources returns container CPU (% of one core) and memory (MiB) per component,
// or no charts when the result has no resource samples.
func Resources(r *result.Result) []Chart {
	if len(r.Resources) == 0 {
		return nil
	}
	cpu := Chart{Name: "cpu", Title: "CPU per component — " + Subject(r), XLabel: "time since start (s)", YLabel: "CPU (% of one core)", Markers: Markers(r)}
	mem := Chart{Name: "memory", Title: "Memory per component — " + Subject(r), XLabel: "time since start (s)", YLabel: "memory (MiB)", Markers: Markers(r)}
	idx := map[string]int{}
	for _, s := range r.Resources {
		i, ok := idx[s.Component]
		if !ok {
			i = len(cpu.Lines)
			idx[s.Component] = i
			cpu.Lines = append(cpu.Lines, Series{Label: s.Component})
			mem.Lines = append(mem.Lines, Series{Label: s.Component})
		}
		cpu.Lines[i].Points = append(cpu.Lines[i].Points, Point{s.AtS, s.CPUPercent})
		mem.Lines[i].Points = append(mem.Lines[i].Points, Point{s.AtS, float64(s.MemoryBytes) / (1 << 20)})
	}
	return []Chart{cpu, mem}
}

// All computes every chart the report shows, in reading order. A stage whose
// histogram cannot be decoded loses its spectrum chart and is reported in errs.
func All(r *result.Result) (charts []Chart, errs []error) {
	charts = append(charts, Throughput(r))
	if c, err := SpectrumAll(r); err != nil {
		errs = append(errs, err)
	} else {
		charts = append(charts, c)
	}
	charts = append(charts, HopBreakdown(r), Availability(r), Errors(r), Connections(r), GeneratorLag(r))
	for _, stage := range stagesPresent(r) {
		charts = append(charts, StageLatency(r, stage))
		if st := r.Stage(stage); st != nil && st.LatencyHDR != "" {
			c, err := Spectrum(r, stage)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			charts = append(charts, c)
		}
	}
	dl, dlErrs := downlinkSpectra(r)
	charts, errs = append(charts, dl...), append(errs, dlErrs...)
	charts = append(charts, Resources(r)...)
	return charts, errs
}

func usToMs(us int64) float64 { return float64(us) / 1000 }
