package capacity

import (
	"fmt"
	"time"

	"github.com/citybench/citybench/harness"
	"github.com/citybench/citybench/reports/result"
)

// Criteria are the pass rules of a step beyond the scenario's own SLOs.
type Criteria struct {
	// MinDeliveredPct is the least share of offered messages every measured stage must deliver (default 99).
	MinDeliveredPct float64
	// MaxBacklogGrowth is the largest backlog slope a stage may show, as a
	// fraction of the offered rate (default 0.02: a stage falling behind by more
	// than 2 % of the load per second is not keeping up).
	MaxBacklogGrowth float64
	// MinBacklogGrowth is the least growth over the whole hold, in seconds of
	// offered load, that counts (default 0.5 s): a stage's backlog swings by
	// rate × its latency jitter (a sink batching for hundreds of milliseconds),
	// which a short hold's slope would otherwise read as falling behind.
	MinBacklogGrowth time.Duration
	// BusyHostShare is the share of the host's CPUs other processes (neither
	// the harness nor the target's components) may take during a step before
	// a failure there is called inconclusive and the step repeated (default 0.15).
	BusyHostShare float64
}

// maxRepeats bounds how often one step is run again when its verdict was
// inconclusive (a busy host), so a search on a loaded machine still ends.
const maxRepeats = 2

// fullHost is the share of the host's CPUs in use at which the host is full:
// a generator lagging then was starved of CPU, not slow by itself.
const fullHost = 0.9

func (c Criteria) withDefaults() Criteria {
	if c.MinDeliveredPct <= 0 {
		c.MinDeliveredPct = 99
	}
	if c.MaxBacklogGrowth <= 0 {
		c.MaxBacklogGrowth = 0.02
	}
	if c.MinBacklogGrowth <= 0 {
		c.MinBacklogGrowth = 500 * time.Millisecond
	}
	if c.BusyHostShare <= 0 {
		c.BusyHostShare = 0.15
	}
	return c
}

// Describe says the rules in words, for capacity.json and the report.
func (c Criteria) Describe() []string {
	c = c.withDefaults()
	return []string{
		"every SLO of the scenario passes",
		fmt.Sprintf("every measured stage delivers at least %g %% of the offered messages", c.MinDeliveredPct),
		fmt.Sprintf("no stage's backlog (sent − delivered there) grows over the hold by more than %g %% of the offered rate per second, nor by more than %s of offered load over the whole hold (least-squares slope of the per-second series)", 100*c.MaxBacklogGrowth, c.MinBacklogGrowth),
		"the load generator was not saturated (generator lag p99 within the scenario's bound)",
		fmt.Sprintf("a failing step during which other processes took at least %g %% of the host's CPUs is inconclusive and run again (up to %d times; every run is kept)", 100*c.BusyHostShare, maxRepeats),
		fmt.Sprintf("a generator that lagged while the host's CPUs were at least %g %% busy and it was not their main user was starved by the pipeline sharing the host: the step counts as failed, and the search goes on below it", 100*fullHost),
	}
}

// capacityOf is the host's CPU capacity in percent (100 = one core; 0: unknown).
func capacityOf(e result.StepEntry) float64 { return 100 * float64(e.HostCores) }

// disturbed reports whether other work on the host took a share of its CPUs
// that makes a failure there inconclusive.
func (c Criteria) disturbed(e result.StepEntry) bool {
	c = c.withDefaults()
	return e.HostCPU > 0 && capacityOf(e) > 0 && e.OtherCPU >= c.BusyHostShare*capacityOf(e)
}

// starved reports whether a lagging generator was starved of CPU by what
// shares its host (the pipeline's components, on one machine) rather than
// limited by itself: the host was full and the harness alone was not most of it.
// The embedded target's one process is harness and pipeline together, so it
// never counts as the generator alone.
func starved(e result.StepEntry) bool {
	if !fullHostStep(e) {
		return false
	}
	for _, u := range e.Resources {
		if u.Component == harness.HarnessComponent && u.CPUMean >= e.HostCPU/2 {
			return false
		}
	}
	return true
}

// backlogLimit is the backlog slope (msgs/s) above which a stage is falling
// behind at rate over a hold of holdS seconds.
func (c Criteria) backlogLimit(rate, holdS float64) float64 {
	c = c.withDefaults()
	frac := c.MaxBacklogGrowth
	if holdS > 0 {
		frac = max(frac, c.MinBacklogGrowth.Seconds()/holdS)
	}
	return frac * rate
}

// Judge says whether a step passed and, if not, every reason why.
func Judge(e result.StepEntry, c Criteria) (bool, []string) {
	c = c.withDefaults()
	var why []string
	if e.GeneratorSaturated {
		why = append(why, "generator saturated: the harness could not offer the load on time")
	}
	for _, v := range e.SLOs {
		if !v.Pass {
			why = append(why, fmt.Sprintf("SLO %s failed (observed %s)", v.Expr, sloValue(v)))
		}
	}
	why = append(why, behind(e, c)...)
	return len(why) == 0, why
}

// behind lists the stages that lost messages or fell behind what the
// generator actually sent — the pipeline's own failures, whatever the
// generator did (latency SLOs, measured from intended send times, include the
// generator's lag; backlogs, measured from sent, do not).
func behind(e result.StepEntry, c Criteria) []string {
	c = c.withDefaults()
	rate := e.OfferedRate
	if rate <= 0 {
		rate = e.Rate
	}
	var why []string
	for _, st := range e.Stages {
		if st.Stage == result.StageSent || st.Stage == result.StageAPI {
			continue // sent is the reference; the API is a sample, judged by its SLOs
		}
		if st.DeliveredPct < c.MinDeliveredPct {
			why = append(why, fmt.Sprintf("%s delivered %.2f %% of offered (< %g %%)", st.Stage, st.DeliveredPct, c.MinDeliveredPct))
		}
		if lim := c.backlogLimit(rate, e.HoldS); st.BacklogSlope > lim {
			why = append(why, fmt.Sprintf("%s backlog grew %+.1f msgs/s (limit %.1f)", st.Stage, st.BacklogSlope, lim))
		}
	}
	return why
}

func sloValue(v result.SLOVerdict) string {
	if v.Unit == "us" {
		return fmt.Sprintf("%.1f ms", v.Observed/1000)
	}
	return fmt.Sprintf("%g %s", v.Observed, v.Unit)
}
