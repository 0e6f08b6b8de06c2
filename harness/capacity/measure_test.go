package capacity_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/citybench/citybench/harness/capacity"
	"github.com/citybench/citybench/pipeline/store"
	"github.com/citybench/citybench/reports/result"
	"github.com/citybench/citybench/scenarios"
)

// intervals builds a run of n seconds sending rate msgs/s, with the store
// stage delivering storeRate msgs/s (one second behind).
func intervals(n int, rate, storeRate int64) []result.Interval {
	iv := make([]result.Interval, n)
	for i := range iv {
		iv[i] = result.Interval{StartS: float64(i), Offered: rate, Stages: map[string]result.IntervalStage{
			result.StageSent: {Delivered: rate},
		}}
		if i > 0 {
			iv[i].Stages[result.StageStore] = result.IntervalStage{Delivered: storeRate}
		}
	}
	return iv
}

func TestBacklogSlope(t *testing.T) {
	for _, tc := range []struct {
		name              string
		rate, stored      int64
		share             float64
		want, within      float64
		from, until, secs int
	}{
		{"keeping up: a constant backlog", 1000, 1000, 1, 0, 0.01, 2, 12, 12},
		{"falling behind by 300/s", 1000, 700, 1, 300, 0.01, 2, 12, 12},
		{"warm-up excluded", 1000, 1000, 1, 0, 0.01, 1, 12, 12},
		{"a stage meant for 70 % of the messages keeping up", 1000, 700, 0.7, 0, 0.01, 2, 12, 12},
		{"a stage meant for 70 % falling behind by 100/s", 1000, 600, 0.7, 100, 0.01, 2, 12, 12},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := capacity.BacklogSlope(intervals(tc.secs, tc.rate, tc.stored), result.StageStore, tc.share, tc.from, tc.until)
			if math.Abs(got-tc.want) > tc.within {
				t.Errorf("slope %.3f, want %.1f", got, tc.want)
			}
		})
	}
}

func TestMeasureAndJudge(t *testing.T) {
	res := &result.Result{
		Phases:    []result.Phase{{Name: "warm-up", EndS: 2}, {Name: "steady", StartS: 2, EndS: 12}},
		Intervals: intervals(13, 1000, 700),
		Stages: []result.StageSummary{
			{Stage: result.StageSent, Delivery: result.Delivery{Expected: 10000, Delivered: 10000}},
			{Stage: result.StageStore, Latency: result.Quantiles{P99Us: 4e6}, Delivery: result.Delivery{Expected: 10000, Delivered: 9800}},
		},
		SLOs: []result.SLOVerdict{{Expr: "store.latency.p99 < 2s", Observed: 4e6, Unit: "us"}},
		Resources: []result.ResourceSample{
			{AtS: 1, Component: "cassandra-1", CPUPercent: 10}, // warm-up: left out
			{AtS: 3, Component: "cassandra-1", CPUPercent: 40},
			{AtS: 4, Component: "cassandra-1", CPUPercent: 60, MemoryBytes: 1 << 30},
		},
	}
	e := capacity.Measure(res, func(string) float64 { return 50 })
	if e.OfferedRate != 1000 || math.Abs(e.DeliveredRate-700) > 0.01 {
		t.Errorf("offered %.0f delivered %.0f, want 1000 and 700", e.OfferedRate, e.DeliveredRate)
	}
	if len(e.Resources) != 1 || e.Resources[0].CPUMean != 50 || e.Resources[0].CPUMax != 60 || e.Resources[0].CPULimit != 50 {
		t.Errorf("resources %+v, want cassandra-1 at mean 50 %% of 50 %% over the hold", e.Resources)
	}
	pass, why := capacity.Judge(e, capacity.Criteria{})
	if pass {
		t.Fatal("a step losing 2 %, falling behind and failing an SLO passed")
	}
	joined := strings.Join(why, "\n")
	for _, want := range []string{"SLO store.latency.p99 < 2s failed (observed 4000.0 ms)", "store delivered 98.00 %", "store backlog grew +300.0 msgs/s"} {
		if !strings.Contains(joined, want) {
			t.Errorf("reasons %q lack %q", why, want)
		}
	}
	res.Intervals, res.SLOs = intervals(13, 1000, 1000), nil
	res.Stages[1].Delivery.Delivered = 10000
	if pass, why := capacity.Judge(capacity.Measure(res, nil), capacity.Criteria{}); !pass {
		t.Errorf("a step that kept up failed: %q", why)
	}
}

func TestCityAndStorage(t *testing.T) {
	fleets := []capacity.FleetLoad{
		{Fleet: "env", Devices: 200, Rate: 200, Interval: time.Second},
		{Fleet: "traffic", Devices: 100, Rate: 50, Interval: 2 * time.Second},
	}
	city := capacity.City(2500, fleets, []time.Duration{10 * time.Second})
	// env carries 80 % of the load: 2000 msgs/s at 1 msg/s per device; at 10 s, ten times the devices.
	if city[0].Devices != 2000 || city[0].AtIntervals[0].Devices != 20000 {
		t.Errorf("env %+v, want 2000 devices, 20000 at 10s", city[0])
	}
	if city[1].Devices != 1000 || city[1].AtIntervals[0].Devices != 5000 {
		t.Errorf("traffic %+v, want 1000 devices, 5000 at 10s", city[1])
	}
	st, err := capacity.Storage(store.Footprint{Rows: 1000, Bytes: 100_000, Replication: 3}, 2500, 250)
	if err != nil {
		t.Fatal(err)
	}
	if st.BytesPerReading != 100 || st.PerDayBytes != 100*2500*86400*3 || st.PerYearBytes != 365*st.PerDayBytes || st.ScenarioPerDayBytes != 100*250*86400*3 {
		t.Errorf("storage %+v", st)
	}
	if _, err := capacity.Storage(store.Footprint{}, 2500, 250); err == nil {
		t.Error("an empty store sized without complaint")
	}
}

func TestScale(t *testing.T) {
	sc, err := scenarios.Parse("s.yaml", []byte(`
name: s
seed: 1
warmup: 1s
phases:
  - {name: ramp, duration: 5s, rate_factor: 0.5, ramp: true}
  - {name: burst, duration: 5s, rate_factor: 3}
fleets:
  - {name: a, devices: 10, model: m, topic: "t/{device}", codec: json, qos: 1, sensors: [{metric: x, mean: 1, stddev: 0}], arrival: {kind: fixed, interval: 1s}}
  - {name: b, devices: 3, model: m, topic: "t/{device}", codec: json, qos: 1, sensors: [{metric: x, mean: 1, stddev: 0}], arrival: {kind: fixed, interval: 2s}}
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		by          string
		factor      float64
		wantRate    float64
		wantDevices []int
	}{
		{capacity.ByRate, 4, 4, []int{10, 3}},
		{capacity.ByDevices, 2.5, 1, []int{25, 8}},
	} {
		got := capacity.Scale(sc, tc.by, tc.factor, 7*time.Second)
		if len(got.Phases) != 1 || got.Phases[0].RateFactor != tc.wantRate || got.Phases[0].Duration.D() != 7*time.Second || got.Phases[0].Ramp {
			t.Errorf("by %s: phases %+v, want one steady 7s phase at rate factor %g", tc.by, got.Phases, tc.wantRate)
		}
		for i, f := range got.Fleets {
			if f.Devices != tc.wantDevices[i] {
				t.Errorf("by %s: fleet %s has %d devices, want %d", tc.by, f.Name, f.Devices, tc.wantDevices[i])
			}
		}
		if sc.Fleets[0].Devices != 10 || len(sc.Phases) != 2 {
			t.Fatal("Scale changed the scenario it copied")
		}
	}
	base, fleets, err := capacity.BaseLoad(sc)
	if err != nil {
		t.Fatal(err)
	}
	// 10 devices at 1/s and 3 at 1/2s, whatever the file's phases do.
	if math.Abs(base-11.5) > 0.3 || math.Abs(fleets[1].Rate-1.5) > 0.1 {
		t.Errorf("base load %.2f (fleets %+v), want 11.5 msgs/s", base, fleets)
	}
}
