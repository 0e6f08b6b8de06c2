package plots

import (
	"fmt"
	"slices"

	"github.com/citybench/citybench/reports/result"
)

// Capacity charts: each step is a point at its offered rate, so the curves read
// left to right as the load rises.

// capacitySteps returns the steps sorted by offered rate.
func capacitySteps(c *result.Capacity) []result.StepEntry {
	steps := slices.Clone(c.Steps)
	slices.SortStableFunc(steps, func(a, b result.StepEntry) int {
		switch {
		case a.OfferedRate < b.OfferedRate:
			return -1
		case a.OfferedRate > b.OfferedRate:
			return 1
		}
		return 0
	})
	return steps
}

func capacityStages(c *result.Capacity) []string {
	var out []string
	for _, name := range result.Stages {
		for _, s := range c.Steps {
			if slices.ContainsFunc(s.Stages, func(st result.StepStage) bool { return st.Stage == name }) {
				out = append(out, name)
				break
			}
		}
	}
	return out
}

func capacitySubject(c *result.Capacity) string {
	return fmt.Sprintf("%s on %s", c.Scenario, c.Target.Kind)
}

// HockeyStick is latency (p50 solid, p99 dashed) against offered rate, per stage.
func HockeyStick(c *result.Capacity) Chart {
	ch := Chart{Name: "capacity-latency", Title: "Latency versus offered rate — " + capacitySubject(c),
		XLabel: "offered rate (msgs/s)", YLabel: "latency since intended send (ms, log)", LogY: true}
	for i, stage := range capacityStages(c) {
		if stage == result.StageSent {
			continue
		}
		p50 := Series{Label: stage + " p50", Palette: i + 1}
		p99 := Series{Label: stage + " p99", Palette: i + 1, Dashed: true}
		for _, s := range capacitySteps(c) {
			for _, st := range s.Stages {
				if st.Stage == stage {
					p50.Points = append(p50.Points, Point{s.OfferedRate, usToMs(st.P50Us)})
					p99.Points = append(p99.Points, Point{s.OfferedRate, usToMs(st.P99Us)})
				}
			}
		}
		ch.Lines = append(ch.Lines, p50, p99)
	}
	return ch
}

// DeliveredVsOffered is the rate reaching each stage within the hold against the offered rate.
func DeliveredVsOffered(c *result.Capacity) Chart {
	ch := Chart{Name: "capacity-delivered", Title: "Delivered versus offered — " + capacitySubject(c),
		XLabel: "offered rate (msgs/s)", YLabel: "delivered within the hold (msgs/s)"}
	ideal := Series{Label: "offered", Dashed: true}
	for _, s := range capacitySteps(c) {
		ideal.Points = append(ideal.Points, Point{s.OfferedRate, s.OfferedRate})
	}
	ch.Lines = append([]Series{ideal}, stageSeries(c, func(st result.StepStage) float64 { return st.DeliveredRate })...)
	return ch
}

// BacklogVsOffered is each stage's backlog slope against the offered rate.
func BacklogVsOffered(c *result.Capacity) Chart {
	return Chart{Name: "capacity-backlog", Title: "Backlog growth versus offered rate — " + capacitySubject(c),
		XLabel: "offered rate (msgs/s)", YLabel: "backlog slope (msgs/s)",
		Lines: stageSeries(c, func(st result.StepStage) float64 { return st.BacklogSlope })}
}

// stageSeries is one line per fully measured stage (not sent, not the sampled
// API) of y against each step's offered rate.
func stageSeries(c *result.Capacity, y func(result.StepStage) float64) []Series {
	var out []Series
	for _, stage := range capacityStages(c) {
		if stage == result.StageSent || stage == result.StageAPI {
			continue
		}
		ser := Series{Label: stage}
		for _, s := range capacitySteps(c) {
			for _, st := range s.Stages {
				if st.Stage == stage {
					ser.Points = append(ser.Points, Point{s.OfferedRate, y(st)})
				}
			}
		}
		out = append(out, ser)
	}
	return out
}

// CPUVsOffered is every component's mean CPU over each step's hold against the offered rate.
func CPUVsOffered(c *result.Capacity) Chart {
	ch := Chart{Name: "capacity-cpu", Title: "CPU per component versus offered rate — " + capacitySubject(c),
		XLabel: "offered rate (msgs/s)", YLabel: "CPU, mean over the hold (%, 100 = one core)"}
	var names []string
	for _, s := range c.Steps {
		for _, u := range s.Resources {
			if !slices.Contains(names, u.Component) {
				names = append(names, u.Component)
			}
		}
	}
	slices.Sort(names)
	for _, name := range names {
		ser := Series{Label: name}
		for _, s := range capacitySteps(c) {
			for _, u := range s.Resources {
				if u.Component == name {
					ser.Points = append(ser.Points, Point{s.OfferedRate, u.CPUMean})
				}
			}
		}
		ch.Lines = append(ch.Lines, ser)
	}
	return ch
}

// CapacityCharts are every chart of a capacity report.
func CapacityCharts(c *result.Capacity) []Chart {
	return []Chart{HockeyStick(c), DeliveredVsOffered(c), BacklogVsOffered(c), CPUVsOffered(c)}
}
