package slo_test

import (
	"strings"
	"testing"

	"github.com/citybench/citybench/harness/slo"
	"github.com/citybench/citybench/reports/result"
	"github.com/citybench/citybench/scenarios"
)

func TestEvaluateMalformed(t *testing.T) {
	withMalformed := func(verified bool) *result.Result {
		r := healthy(t)
		r.Malformed = &result.Malformed{Verified: verified,
			Kinds: []result.MalformedKind{
				{Kind: "truncated", Injected: 10, DeadLettered: 10},
				{Kind: "oversize", Injected: 10, DeadLettered: 8, Stored: 1, Missing: 1},
			},
			Total: result.MalformedKind{Kind: "total", Injected: 20, DeadLettered: 18, Stored: 1, Missing: 1}}
		return r
	}
	tests := []struct {
		expr     string
		r        *result.Result
		pass, ok bool
		observed float64
		note     string
	}{
		{"malformed.injected == 20", withMalformed(true), true, true, 20, ""},
		{"malformed.dead_lettered_ratio == 1", withMalformed(true), false, true, 0.9, ""},
		{"malformed.truncated.dead_lettered_ratio == 1", withMalformed(true), true, true, 1, ""},
		{"malformed.oversize.stored == 0", withMalformed(true), false, true, 1, ""},
		{"malformed.missing == 0", withMalformed(true), false, true, 1, ""},
		{"malformed.wrong_codec.stored == 0", withMalformed(true), false, false, 0, "no malformed messages of kind wrong_codec"},
		{"malformed.dead_lettered >= 0", withMalformed(false), false, false, 0, "no dead-letter topic"},
		{"malformed.stored == 0", healthy(t), false, false, 0, "no malformed messages were sent"},
	}
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			got := slo.Evaluate([]scenarios.SLO{parse(t, tc.expr)}, tc.r)[0]
			if got.Pass != tc.pass || (tc.ok && got.Observed != tc.observed) || !strings.Contains(got.Note, tc.note) {
				t.Errorf("verdict %+v: want pass %v observed %v note containing %q", got, tc.pass, tc.observed, tc.note)
			}
		})
	}
}
