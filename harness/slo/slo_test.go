package slo_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/citybench/citybench/harness/slo"
	"github.com/citybench/citybench/reports/result"
	"github.com/citybench/citybench/reports/synth"
	"github.com/citybench/citybench/scenarios"
)

// healthy is a synthetic run with real HDR histograms: the figures come from
// recorded samples, so the test compares Evaluate with the result's own fields.
func healthy(t *testing.T) *result.Result {
	t.Helper()
	r, err := synth.Result(synth.WithSeed(3), synth.WithDuration(20, 2), synth.WithRate(200), synth.WithoutFault())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func parse(t *testing.T, expr string) scenarios.SLO {
	t.Helper()
	s, err := scenarios.ParseSLO(expr)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// us formats µs as a duration an SLO accepts.
func us(v float64) string { return fmt.Sprintf("%dus", int64(v)) }

func TestEvaluateObserves(t *testing.T) {
	r := healthy(t)
	store, kafka, api := r.Stage(result.StageStore), r.Stage(result.StageKafka), r.Stage(result.StageAPI)
	if store == nil || kafka == nil || api == nil || store.Latency.Count == 0 {
		t.Fatal("synthetic result lacks stages")
	}
	tests := []struct {
		name     string
		subject  string
		observed float64
		unit     string
		note     string
	}{
		{"store p99", "store.latency.p99", float64(store.Latency.P99Us), "us", ""},
		{"kafka p99.9", "kafka.latency.p99.9", float64(kafka.Latency.P999Us), "us", ""},
		{"store max", "store.latency.max", float64(store.Latency.MaxUs), "us", ""},
		{"store mean", "store.latency.mean", store.Latency.MeanUs, "us", ""},
		{"store service p50", "store.service_time.p50", float64(store.ServiceTime.P50Us), "us", ""},
		{"generator lag p99", "generator_lag.p99", float64(r.GeneratorLag.P99Us), "us", ""},
		{"api p50 is sampled", "api.latency.p50", float64(api.Latency.P50Us), "us", "sampled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.observed <= 0 {
				t.Fatalf("synthetic %s is %v; the test needs a positive figure", tt.subject, tt.observed)
			}
			// Just above and just below the observed figure: one passes, one fails.
			above := parse(t, tt.subject+" < "+us(tt.observed+1000))
			below := parse(t, tt.subject+" < "+us(tt.observed/2))
			vs := slo.Evaluate([]scenarios.SLO{above, below}, r)
			if len(vs) != 2 {
				t.Fatalf("%d verdicts", len(vs))
			}
			if !vs[0].Pass || vs[1].Pass {
				t.Errorf("pass = %v, %v; want true, false (%+v)", vs[0].Pass, vs[1].Pass, vs)
			}
			for _, v := range vs {
				if v.Observed != tt.observed || v.Unit != tt.unit {
					t.Errorf("observed %v %s, want %v %s", v.Observed, v.Unit, tt.observed, tt.unit)
				}
				if !strings.Contains(v.Note, tt.note) || (tt.note == "" && v.Note != "") {
					t.Errorf("note %q, want %q", v.Note, tt.note)
				}
			}
			if vs[0].Expr != above.Expr || vs[0].Threshold != above.Threshold {
				t.Errorf("verdict %+v does not carry the SLO", vs[0])
			}
		})
	}
}

func TestEvaluateDelivery(t *testing.T) {
	r := healthy(t)
	st := r.Stage(result.StageStore)
	st.Delivery.Lost, st.Delivery.Duplicated, st.Delivery.Reordered = 3, 2, 1
	st.Delivery.Availability = 0.9985
	d := st.Delivery
	tests := []struct {
		expr     string
		observed float64
		pass     bool
	}{
		{"store.loss == 0", 3, false},
		{"store.loss <= 3", 3, true},
		{"store.loss_ratio < 0.5", 3 / float64(d.Expected), true},
		{"store.loss_ratio == 0", 3 / float64(d.Expected), false},
		{"store.duplicates == 0", 2, false},
		{"store.reordered < 2", 1, true},
		{"store.delivered >= 1", float64(d.Delivered), true},
		{"store.availability >= 0.999", 0.9985, false},
		{"store.availability >= 99.8%", 0.9985, true},
		{"store.throughput >= 1", float64(d.Delivered) / r.Meta.DurationS, true},
		{fmt.Sprintf("store.throughput >= %d", d.Delivered), float64(d.Delivered) / r.Meta.DurationS, false},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			v := slo.Evaluate([]scenarios.SLO{parse(t, tt.expr)}, r)[0]
			if v.Observed != tt.observed || v.Pass != tt.pass || v.Note != "" {
				t.Errorf("got observed %v pass %v note %q; want %v %v", v.Observed, v.Pass, v.Note, tt.observed, tt.pass)
			}
		})
	}
}

// A verdict on loss says how many messages the tap could not check; one on latency does not.
func TestEvaluateNotesUnverified(t *testing.T) {
	r := healthy(t)
	r.Stage(result.StageStore).Delivery.Unverified = 7
	tests := []struct {
		expr string
		note string
	}{
		{"store.loss == 0", "7 store messages unverified: its tap could not check them"},
		{"store.availability >= 0.9", "7 store messages unverified: its tap could not check them"},
		{"store.duplicates == 0", ""},
		{"store.latency.p99 < 1h", ""},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			if v := slo.Evaluate([]scenarios.SLO{parse(t, tt.expr)}, r)[0]; v.Note != tt.note || !v.Pass {
				t.Errorf("got pass %v note %q; want pass, note %q", v.Pass, v.Note, tt.note)
			}
		})
	}
}

// Whatever the result cannot show fails with a note: an SLO never passes by default.
func TestEvaluateMissing(t *testing.T) {
	tests := []struct {
		name   string
		expr   string
		mutate func(*result.Result)
		note   string
	}{
		{"missing stage", "kafka.latency.p99 < 1h", func(r *result.Result) {
			var kept []result.StageSummary
			for _, s := range r.Stages {
				if s.Stage != result.StageKafka {
					kept = append(kept, s)
				}
			}
			r.Stages = kept
		}, "stage kafka was not measured"},
		{"missing stage for a count", "acked.loss == 0", func(r *result.Result) { r.Stages = nil }, "stage acked was not measured"},
		{"no latency samples", "store.latency.p99 < 1h", func(r *result.Result) { r.Stage(result.StageStore).Latency = result.Quantiles{} }, "no latency samples"},
		{"no service-time samples", "store.service_time.p99 < 1h", func(r *result.Result) { r.Stage(result.StageStore).ServiceTime = result.Quantiles{} }, "no service_time samples"},
		{"no generator lag", "generator_lag.p99 < 1h", func(r *result.Result) { r.GeneratorLag = result.Quantiles{} }, "no generator lag"},
		{"nothing expected", "store.availability >= 0", func(r *result.Result) { r.Stage(result.StageStore).Delivery = result.Delivery{} }, "expected no messages"},
		{"nothing expected, ratio", "store.loss_ratio <= 1", func(r *result.Result) { r.Stage(result.StageStore).Delivery = result.Delivery{} }, "expected no messages"},
		{"no duration", "store.throughput >= 0", func(r *result.Result) { r.Meta.DurationS = 0 }, "no measured duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := healthy(t)
			tt.mutate(r)
			v := slo.Evaluate([]scenarios.SLO{parse(t, tt.expr)}, r)[0]
			if v.Pass || !strings.Contains(v.Note, tt.note) {
				t.Errorf("verdict %+v, want a failure noting %q", v, tt.note)
			}
		})
	}
	v := slo.Evaluate([]scenarios.SLO{parse(t, "store.loss == 0")}, nil)[0]
	if v.Pass || v.Note == "" {
		t.Errorf("nil result: %+v", v)
	}
}

func TestEvaluateFlags(t *testing.T) {
	tests := []struct {
		flag, expr, note string
	}{
		{result.FlagPartial, "store.loss >= 0", "partial run"},
		{result.FlagGeneratorSaturated, "store.latency.p99 < 1h", "generator saturated"},
	}
	for _, tt := range tests {
		r := healthy(t)
		r.Flags = append(r.Flags, tt.flag)
		v := slo.Evaluate([]scenarios.SLO{parse(t, tt.expr)}, r)[0]
		if !v.Pass || !strings.Contains(v.Note, tt.note) {
			t.Errorf("%s: %+v, want a pass noting %q", tt.flag, v, tt.note)
		}
	}
}

func TestPassed(t *testing.T) {
	pass, fail := result.SLOVerdict{Pass: true}, result.SLOVerdict{Expr: "x", Pass: false}
	tests := []struct {
		vs     []result.SLOVerdict
		want   bool
		failed int
	}{
		{nil, true, 0},
		{[]result.SLOVerdict{pass, pass}, true, 0},
		{[]result.SLOVerdict{pass, fail, fail}, false, 2},
	}
	for _, tt := range tests {
		if got := slo.Passed(tt.vs); got != tt.want {
			t.Errorf("Passed(%v) = %v", tt.vs, got)
		}
		if got := len(slo.Failed(tt.vs)); got != tt.failed {
			t.Errorf("Failed(%v) has %d", tt.vs, got)
		}
	}
}

// The catalog's smoke SLOs must pass on a healthy run and fail on a lossy one.
func TestSmokeSLOs(t *testing.T) {
	sc, err := scenarios.Load("../../scenarios/smoke.yaml")
	if err != nil {
		t.Fatal(err)
	}
	slos, err := sc.ParseSLOs()
	if err != nil {
		t.Fatal(err)
	}
	r := healthy(t)
	if vs := slo.Evaluate(slos, r); !slo.Passed(vs) {
		t.Errorf("healthy run fails smoke: %+v", slo.Failed(vs))
	}
	r.Stage(result.StageStore).Delivery.Lost = 1
	if vs := slo.Evaluate(slos, r); slo.Passed(vs) {
		t.Errorf("lossy run passes smoke: %+v", vs)
	}
}

func TestFaultSLOs(t *testing.T) {
	res := func(recovered bool) *result.Result {
		return &result.Result{Faults: []result.FaultEvent{
			{Kind: "kill", Target: "kafka-2", Stages: []result.FaultImpact{{Stage: "store", RecoveryS: 12, UnavailableS: 7, Recovered: true}}},
			{Kind: "stop", Target: "sink-1", Stages: []result.FaultImpact{{Stage: "store", RecoveryS: 20, UnavailableS: 4, Recovered: recovered}}},
		}}
	}
	tests := []struct {
		expr     string
		r        *result.Result
		pass     bool
		observed float64
		note     string
	}{
		{"store.recovery_time < 30s", res(true), true, 20e6, ""},
		{"store.recovery_time < 15s", res(true), false, 20e6, ""},
		{"store.unavailable < 5s", res(true), false, 7e6, ""},
		{"store.recovery_time < 30s", res(false), false, 0, "did not recover from stop sink-1"},
		{"store.recovery_time < 30s", &result.Result{}, false, 0, "performed no fault"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			s, err := scenarios.ParseSLO(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			v := slo.Evaluate([]scenarios.SLO{s}, tt.r)[0]
			if v.Pass != tt.pass || v.Observed != tt.observed || !strings.Contains(v.Note, tt.note) {
				t.Fatalf("verdict %+v, want pass %v observed %g note ~%q", v, tt.pass, tt.observed, tt.note)
			}
		})
	}
}
