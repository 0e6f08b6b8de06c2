package capacity

import (
	"fmt"
	"slices"
	"strings"

	"github.com/citybench/citybench/reports/result"
)

// hop is the part of the pipeline that delivers to a stage: the software that
// owns it and the resource lines (container aliases, by prefix) that serve it.
type hop struct {
	owner      string
	components []string
}

var hops = map[string]hop{
	result.StageAcked:  {"broker", []string{"mqtt", "broker", "mosquitto", "hivemq"}},
	result.StageBroker: {"broker", []string{"mqtt", "broker", "mosquitto", "hivemq"}},
	result.StageKafka:  {"bridge", []string{"bridge", "kafka"}},
	result.StageStore:  {"sink", []string{"sink", "cassandra"}},
	result.StageAPI:    {"api", []string{"api", "cassandra"}},
}

// upstream is the stage each stage receives from (acked and broker both from
// sent: the publisher's ack and the broker's delivery to subscribers).
var upstream = map[string]string{
	result.StageAcked:  result.StageSent,
	result.StageBroker: result.StageSent,
	result.StageKafka:  result.StageBroker,
	result.StageStore:  result.StageKafka,
}

// saturated is the share of its CPU allowance at which a component counts as
// saturated; throttled the share of its CPU periods its container limit must
// have held it back in for the same (a quota is spent in bursts, so the mean
// of a throttled container can sit well below its limit).
const (
	saturated = 0.8
	throttled = 25.0
)

// Bottleneck names the component that gave out first: the stage whose backlog
// (or latency) first grew between the highest passing step and the lowest
// failing one above it, and, among the components serving that stage, the one
// nearest its CPU allowance — or the stage's own software when none is near it
// (a limit inside the component: a cap, a lock, a pool).
func Bottleneck(out Outcome, c Criteria) result.Bottleneck {
	pass, fail := stepAt(out.Steps, out.Max, true), lowestFail(out.Steps, out.Max, c)
	if out.Stopped == StopGenerator && fail == nil {
		last := out.Steps[len(out.Steps)-1]
		b := result.Bottleneck{Component: "generator (harness)", Evidence: []string{fmt.Sprintf(generatorNote, last.OfferedRate)}}
		for _, u := range last.Resources {
			if isHarness(u.Component) {
				b.Evidence = append(b.Evidence, cpuLine(u))
			}
		}
		if busyHost(last) {
			b.Evidence = append(b.Evidence, fmt.Sprintf("host load average %.1f on %d cores: other processes held the CPUs the generator needed", last.HostLoad, last.HostCores))
		}
		return b
	}
	if fail == nil {
		return result.Bottleneck{Component: "none found", Evidence: []string{"no step failed: raise --max-rate to find the limit"}}
	}
	var starvedAt *result.StepEntry
	if fail.GeneratorSaturated && len(behind(*fail, c)) == 0 {
		// The answer's bracket was set by a generator starved of the host's
		// CPU; the pipeline's own limit is the lowest step above where a stage
		// fell behind what was sent, when there is one.
		starvedAt, fail = fail, lowestBehind(out.Steps, out.Max, c)
		if fail == nil {
			return hostCPU(*starvedAt, c)
		}
	}
	b := pipelineBottleneck(out, pass, fail, c)
	if starvedAt != nil {
		b.Evidence = append(b.Evidence, fmt.Sprintf("the bracket's failing end, %.0f msgs/s, was set lower by the host's CPU: the generator could not keep its schedule while the host's CPUs were %.0f %% of %.0f %% busy (other processes %.0f %%); the pipeline itself fell behind at %.0f msgs/s", starvedAt.OfferedRate, starvedAt.HostCPU, capacityOf(*starvedAt), starvedAt.OtherCPU, fail.OfferedRate))
	}
	return b
}

// lowestBehind is the lowest-rate step above the answer where a stage lost
// messages or fell behind what was sent. Runs that were run again count: their
// verdict was inconclusive, but which stage fell behind is still what they saw.
func lowestBehind(steps []result.StepEntry, above float64, c Criteria) *result.StepEntry {
	var found *result.StepEntry
	for i := range steps {
		s := &steps[i]
		if s.Rate > above && len(behind(*s, c)) > 0 && (found == nil || s.Rate < found.Rate) {
			found = s
		}
	}
	return found
}

// pipelineBottleneck names the component behind the first stage that grew in
// the failing step fail, against the passing step pass.
func pipelineBottleneck(out Outcome, pass, fail *result.StepEntry, c Criteria) result.Bottleneck {
	stage, ev := firstGrowth(pass, fail, c)
	b := result.Bottleneck{Stage: stage, Evidence: ev}
	h, ok := hops[stage]
	if !ok {
		b.Component = "unknown"
		b.Evidence = append(b.Evidence, fmt.Sprintf("the step at %.0f msgs/s failed (%s) but no stage's backlog or latency grew", fail.Rate, strings.Join(fail.Reasons, "; ")))
		return b
	}
	var serving []result.ComponentUse
	for _, u := range fail.Resources {
		for _, p := range h.components {
			if strings.HasPrefix(u.Component, p) {
				serving = append(serving, u)
				break
			}
		}
	}
	slices.SortFunc(serving, func(a, b result.ComponentUse) int { return cmpFloat(utilisation(b), utilisation(a)) })
	for _, u := range serving {
		b.Evidence = append(b.Evidence, cpuLine(u))
	}
	switch {
	case len(serving) > 0 && utilisation(serving[0]) >= saturated:
		b.Component = serving[0].Component
	case len(serving) == 0 && oneProcessSaturated(fail.Resources):
		// The embedded target: broker, Kafka, sink and store share the harness's
		// process, so the CPUs of the host are what ran out.
		b.Component = "host CPU (one process: harness and embedded pipeline)"
		for _, u := range fail.Resources {
			b.Evidence = append(b.Evidence, cpuLine(u))
		}
	case len(serving) > 0 && fullHostStep(*fail) && fail.Counters["sink_throttled_ms"] == 0: // a sink cap that held rows back is the sink's own limit
		// No component reached its own allowance, but together they (and the
		// harness) filled the host: its cores are what ran out.
		b.Component = hostName(*fail, c)
		b.Evidence = append(b.Evidence, fmt.Sprintf("no component serving the %s stage was near its own CPU allowance, but the host's CPUs were %.0f %% of %.0f %% busy (other processes %.0f %%): the cores the components share ran out", stage, fail.HostCPU, capacityOf(*fail), fail.OtherCPU))
	default:
		b.Component = h.owner
		if len(serving) > 0 {
			b.Evidence = append(b.Evidence, fmt.Sprintf("no component serving the %s stage was near its CPU allowance: the limit is inside %s (a cap, a lock or a pool)", stage, h.owner))
		} else {
			for _, u := range fail.Resources {
				b.Evidence = append(b.Evidence, cpuLine(u))
			}
		}
	}
	if busyHost(*fail) {
		b.Evidence = append(b.Evidence, fmt.Sprintf("host load average %.1f on %d cores during the step at %.0f msgs/s: the figures were taken on a busy host", fail.HostLoad, fail.HostCores, fail.Rate))
	}
	if out.Stopped == StopGenerator {
		b.Evidence = append(b.Evidence, fmt.Sprintf("the search stopped early, on the generator (lagging at %.0f msgs/s): this is the first stage that fell behind above the answer", out.Steps[len(out.Steps)-1].OfferedRate))
	}
	for _, k := range []string{"sink_throttled_ms", "broker_inflight_dropped", "broker_messages_dropped"} {
		if v := fail.Counters[k]; v > 0 {
			b.Evidence = append(b.Evidence, fmt.Sprintf("%s during the step at %.0f msgs/s: %d", k, fail.Rate, v))
		}
	}
	return b
}

// firstGrowth is the stage that added the most backlog of its own in the
// failing step (else whose p99 grew most, else that lost messages), with the figures.
func firstGrowth(pass, fail *result.StepEntry, c Criteria) (string, []string) {
	stage := func(e *result.StepEntry, name string) *result.StepStage {
		if e == nil {
			return nil
		}
		for i := range e.Stages {
			if e.Stages[i].Stage == name {
				return &e.Stages[i]
			}
		}
		return nil
	}
	lim := c.backlogLimit(fail.OfferedRate, fail.HoldS)
	order := []string{result.StageAcked, result.StageBroker, result.StageKafka, result.StageStore}
	describe := func(name string) []string {
		f, p := stage(fail, name), stage(pass, name)
		line := fmt.Sprintf("%s backlog %+.0f msgs/s at %.0f msgs/s offered", name, f.BacklogSlope, fail.OfferedRate)
		lat := fmt.Sprintf("%s p99 %s at %.0f msgs/s", name, msText(f.P99Us), fail.OfferedRate)
		if p != nil {
			line += fmt.Sprintf(" (%+.0f at %.0f)", p.BacklogSlope, pass.OfferedRate)
			lat = fmt.Sprintf("%s p99 %s at %.0f msgs/s → %s at %.0f msgs/s", name, msText(p.P99Us), pass.OfferedRate, msText(f.P99Us), fail.OfferedRate)
		}
		return []string{line, lat}
	}
	// A stage's backlog includes every backlog upstream of it: the stage that
	// fell behind is the one adding the most of its own.
	own, most := "", 0.0
	for _, name := range order {
		f := stage(fail, name)
		if f == nil || f.BacklogSlope <= lim {
			continue
		}
		added := f.BacklogSlope
		if up := stage(fail, upstream[name]); up != nil {
			added -= max(0, up.BacklogSlope)
		}
		if own == "" || added > most {
			own, most = name, added
		}
	}
	if own != "" {
		return own, describe(own)
	}
	best, growth := "", 0.0
	for _, name := range order {
		f, p := stage(fail, name), stage(pass, name)
		if f == nil || p == nil || p.P99Us <= 0 {
			continue
		}
		if g := float64(f.P99Us) / float64(p.P99Us); g > 2 && g > growth {
			best, growth = name, g
		}
	}
	if best != "" {
		return best, describe(best)
	}
	for _, name := range order {
		if f := stage(fail, name); f != nil && f.DeliveredPct < c.withDefaults().MinDeliveredPct {
			return name, append(describe(name), fmt.Sprintf("%s delivered %.2f %%", name, f.DeliveredPct))
		}
	}
	return "", nil
}

func stepAt(steps []result.StepEntry, rate float64, pass bool) *result.StepEntry {
	var found *result.StepEntry
	for i := range steps {
		if !steps[i].Repeated && steps[i].Rate == rate && steps[i].Pass == pass {
			found = &steps[i] // the latest (the confirming hold when there is one)
		}
	}
	return found
}

// lowestFail is the lowest-rate step above the answer that failed — on a
// generator stop, only a step where the pipeline itself fell behind counts.
func lowestFail(steps []result.StepEntry, above float64, c Criteria) *result.StepEntry {
	var found *result.StepEntry
	for i := range steps {
		s := &steps[i]
		if s.Repeated || s.GeneratorSaturated && len(behind(*s, c)) == 0 && !starved(*s) {
			continue
		}
		if !s.Pass && s.Rate > above && (found == nil || s.Rate < found.Rate) {
			found = s
		}
	}
	return found
}

// hostCPU is the bottleneck of a step whose generator was starved by a full
// host while no stage fell behind what was sent: the CPUs the harness and the
// pipeline share, with what each took.
func hostCPU(fail result.StepEntry, c Criteria) result.Bottleneck {
	b := result.Bottleneck{Component: hostName(fail, c), Evidence: []string{
		fmt.Sprintf("at %.0f msgs/s the generator could not keep its schedule while the host's CPUs were %.0f %% of %.0f %% busy (other processes %.0f %%)", fail.OfferedRate, fail.HostCPU, capacityOf(fail), fail.OtherCPU),
	}}
	use := slices.Clone(fail.Resources)
	slices.SortFunc(use, func(a, b result.ComponentUse) int { return cmpFloat(b.CPUMean, a.CPUMean) })
	for _, u := range use {
		b.Evidence = append(b.Evidence, cpuLine(u))
	}
	return b
}

// hostName names the host's CPU as a bottleneck: the harness and pipeline's,
// or other processes' when they took a disturbing share.
func hostName(e result.StepEntry, c Criteria) string {
	if c.disturbed(e) {
		return "host CPU (other processes on the host took it)"
	}
	return "host CPU (harness and pipeline share it)"
}

// fullHostStep reports whether the host's CPUs were full during the step.
func fullHostStep(e result.StepEntry) bool {
	return e.HostCPU > 0 && capacityOf(e) > 0 && e.HostCPU >= fullHost*capacityOf(e)
}

func busyHost(e result.StepEntry) bool { return e.HostCores > 0 && e.HostLoad > float64(e.HostCores) }

// utilisation is how near a component was to its CPU allowance: its mean CPU
// over its limit, or saturated when its limit throttled it often.
func utilisation(u result.ComponentUse) float64 {
	if u.CPULimit <= 0 {
		return 0
	}
	if u.ThrottledPct >= throttled {
		return max(saturated, u.CPUMean/u.CPULimit)
	}
	return u.CPUMean / u.CPULimit
}

func oneProcessSaturated(us []result.ComponentUse) bool {
	for _, u := range us {
		if isHarness(u.Component) && utilisation(u) >= saturated {
			return true
		}
	}
	return false
}

func cpuLine(u result.ComponentUse) string {
	line := fmt.Sprintf("%s: CPU %.0f %% of its %.0f %% allowance (mean; max %.0f %%), memory peak %.0f MiB", u.Component, u.CPUMean, u.CPULimit, u.CPUMax, float64(u.MemoryPeak)/(1<<20))
	if u.ThrottledPct > 0 {
		line += fmt.Sprintf(", throttled by its CPU limit in %.0f %% of its CPU periods", u.ThrottledPct)
	}
	return line
}

func msText(us int64) string { return fmt.Sprintf("%.1f ms", float64(us)/1000) }

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
