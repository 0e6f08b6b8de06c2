package harness_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/citybench/citybench/harness"
	"github.com/citybench/citybench/harness/metrics"
	"github.com/citybench/citybench/harness/target/embedded"
	"github.com/citybench/citybench/scenarios"
)

// notifying passes each live update to the exporter and then signals, so the
// test scrapes right after the figures changed instead of sleeping.
type notifying struct {
	*metrics.Exporter
	updated chan struct{}
}

func (n notifying) Update(s metrics.Snapshot) {
	n.Exporter.Update(s)
	select {
	case n.updated <- struct{}{}:
	default:
	}
}

// TestMetricsEndpointMoves scrapes /metrics during an embedded run: the
// counters (offered, per stage, commands) exist with Prometheus types and grow
// between two scrapes, and the last second's latency quantiles appear.
func TestMetricsEndpointMoves(t *testing.T) {
	if testing.Short() {
		t.Skip("10 s end-to-end run; skipped with -short")
	}
	sc, err := scenarios.Parse("metrics.yaml", []byte(`
name: metrics
seed: 3
warmup: 1s
duration: 8s
drain: 20s
fleets:
  - name: env
    devices: 50
    topic: city/{device}
    control_topic: city/{device}/control
    codec: json
    qos: 1
    sensors: [{metric: temperature, mean: 20, stddev: 1}]
    arrival: {kind: fixed, interval: 200ms}
commands:
  - {name: ping, fleet: env, fraction: 0.2, rate: 5}
`))
	if err != nil {
		t.Fatal(err)
	}
	exp, err := metrics.Listen("127.0.0.1:0", metrics.Info{Scenario: sc.Name, Target: "embedded"})
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Close(context.Background())
	sink := notifying{exp, make(chan struct{}, 1)}
	tgt, err := embedded.New(sc, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := harness.Run(ctx, sc, harness.Options{Target: tgt, Live: sink})
		done <- err
	}()

	series := []string{`citybench_messages_offered_total`, `citybench_stage_messages_total{stage="sent"}`,
		`citybench_stage_messages_total{stage="broker"}`, `citybench_stage_messages_total{stage="store"}`, `citybench_commands_total{stage="command_acked"}`,
		`citybench_stage_latency_seconds_count{stage="broker"}`}
	first := waitFor(t, ctx, sink, exp.Addr(), func(v map[string]float64) bool {
		return v[`citybench_commands_total{stage="command_acked"}`] > 0 && v[`citybench_connections`] == 50
	})
	sawLatency := false
	waitFor(t, ctx, sink, exp.Addr(), func(v map[string]float64) bool {
		sawLatency = sawLatency || v[`citybench_stage_latency_seconds{quantile="0.99",stage="broker"}`] > 0
		for _, s := range series {
			if v[s] <= first[s] {
				return false
			}
		}
		return sawLatency
	})
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}

// waitFor scrapes after every live update until ok holds, and returns those values.
func waitFor(t *testing.T, ctx context.Context, sink notifying, addr string, ok func(map[string]float64) bool) map[string]float64 {
	t.Helper()
	for {
		select {
		case <-sink.updated:
		case <-ctx.Done():
			t.Fatalf("metrics never reached the wanted values: %v", ctx.Err())
		}
		v := scrape(t, addr)
		if ok(v) {
			return v
		}
	}
}

// scrape reads /metrics into "name{label="value",…}" → value, checking that
// every _total series is a counter.
func scrape(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + metrics.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	out := map[string]float64{}
	for name, f := range fams {
		if strings.HasSuffix(name, "_total") && f.GetType() != dto.MetricType_COUNTER {
			t.Errorf("%s is a %s, want a counter", name, f.GetType())
		}
		for _, m := range f.Metric {
			switch {
			case m.Counter != nil:
				out[seriesKey(name, m.Label, "")] = m.Counter.GetValue()
			case m.Gauge != nil:
				out[seriesKey(name, m.Label, "")] = m.Gauge.GetValue()
			case m.Summary != nil:
				out[seriesKey(name+"_count", m.Label, "")] = float64(m.Summary.GetSampleCount())
				for _, q := range m.Summary.Quantile {
					out[seriesKey(name, m.Label, fmt.Sprint(q.GetQuantile()))] = q.GetValue()
				}
			}
		}
	}
	return out
}

// seriesKey is name{labels} with the labels in name order (a quantile, when
// given, among them), as Prometheus prints a series.
func seriesKey(name string, labels []*dto.LabelPair, quantile string) string {
	pairs := []string{}
	if quantile != "" {
		pairs = append(pairs, fmt.Sprintf("quantile=%q", quantile))
	}
	for _, l := range labels {
		pairs = append(pairs, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
	}
	if len(pairs) == 0 {
		return name
	}
	slices.Sort(pairs)
	return name + "{" + strings.Join(pairs, ",") + "}"
}
