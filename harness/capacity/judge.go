package capacity

import (
	"fmt"
	"time"

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
}

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
	}
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
