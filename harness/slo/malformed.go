package slo

import (
	"fmt"

	"github.com/citybench/citybench/reports/result"
	"github.com/citybench/citybench/scenarios"
)

// malformedFigure is a malformed.<metric> or malformed.<kind>.<metric> figure.
// A run that sent no malformed messages, or could not read the dead-letter
// topic, cannot show it: that fails rather than passes.
func malformedFigure(r *result.Result, s scenarios.SLO) (float64, string, bool) {
	mf := r.Malformed
	if mf == nil {
		return 0, "no malformed messages were sent in this run", false
	}
	k := mf.Total
	if s.Kind != "" {
		found := false
		for _, mk := range mf.Kinds {
			if mk.Kind == s.Kind {
				k, found = mk, true
			}
		}
		if !found {
			return 0, fmt.Sprintf("no malformed messages of kind %s were sent", s.Kind), false
		}
	}
	if !mf.Verified && s.Metric != scenarios.MetricInjected && s.Metric != scenarios.MetricStored {
		return 0, "the target exposes no dead-letter topic: dead letters were not counted", false
	}
	switch s.Metric {
	case scenarios.MetricInjected:
		return float64(k.Injected), "", true
	case scenarios.MetricDeadLettered:
		return float64(k.DeadLettered), "", true
	case scenarios.MetricStored:
		return float64(k.Stored), "", true
	case scenarios.MetricMissing:
		return float64(k.Missing), "", true
	case scenarios.MetricDeadLetteredRatio:
		if k.Injected == 0 {
			return 0, "no malformed messages were sent, so a ratio is undefined", false
		}
		return float64(k.DeadLettered) / float64(k.Injected), "", true
	}
	return 0, fmt.Sprintf("unknown malformed metric %q", s.Metric), false
}
