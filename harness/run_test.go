package harness_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/citybench/citybench/harness"
	"github.com/citybench/citybench/harness/ledger"
	"github.com/citybench/citybench/harness/target/embedded"
	"github.com/citybench/citybench/reports/result"
	"github.com/citybench/citybench/scenarios"
)

func scenario(t *testing.T, devices int, interval, duration time.Duration) *scenarios.Scenario {
	t.Helper()
	sc, err := scenarios.Parse("it.yaml", []byte(fmt.Sprintf(`
name: it
seed: 11
warmup: 2s
duration: %s
drain: 20s
api_sample: 0.01
fleets:
  - name: env
    devices: %d
    model: env-v1
    topic: city/{district}/{device}
    locations: {district: [n, s, e, w]}
    codec: json
    qos: 1
    sensors:
      - {metric: temperature, mean: 28.7, stddev: 3.5}
    arrival: {kind: fixed, interval: %s, jitter: 50ms}
`, duration, devices, interval)))
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func run(t *testing.T, sc *scenarios.Scenario, opts harness.Options) (*result.Result, *embedded.Target) {
	t.Helper()
	tgt, err := embedded.New(sc, nil)
	if err != nil {
		t.Fatal(err)
	}
	opts.Target = tgt
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := harness.Run(ctx, sc, opts)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return res, tgt
}

// TestEmbeddedThousandDevices is the harness's end-to-end check: 1,000 devices at
// QoS 1 for 20 s lose nothing at any stage, and every sampled message's stage
// times are in pipeline order.
func TestEmbeddedThousandDevices(t *testing.T) {
	if testing.Short() {
		t.Skip("25 s end-to-end run; skipped with -short")
	}
	sc := scenario(t, 1000, time.Second, 20*time.Second)
	var traces []ledger.SampleTrace
	res, _ := run(t, sc, harness.Options{TraceSamples: 2000, Trace: func(tr []ledger.SampleTrace) { traces = tr }})

	want := []string{"sent", "acked", "broker", "kafka", "store", "api"}
	if len(res.Stages) != len(want) {
		t.Fatalf("stages = %d, want %v", len(res.Stages), want)
	}
	for i, s := range res.Stages {
		if s.Stage != want[i] {
			t.Fatalf("stage %d = %s, want %s", i, s.Stage, want[i])
		}
		if s.Delivery.Expected == 0 || s.Delivery.Lost != 0 || s.Delivery.Delivered != s.Delivery.Expected {
			t.Errorf("stage %s: %+v — want no loss", s.Stage, s.Delivery)
		}
	}
	if got, min := res.Stage("store").Delivery.Expected, int64(1000*19); got < min {
		t.Errorf("store expected %d messages in the measured window, want ≥ %d", got, min)
	}
	if res.Counters["broker_inflight_dropped"] != 0 {
		t.Errorf("broker dropped %d in-flight messages", res.Counters["broker_inflight_dropped"])
	}
	if len(traces) < 1000 {
		t.Fatalf("only %d traces", len(traces))
	}
	for _, tr := range traces {
		at := tr.At
		ordered := tr.Intended <= at[ledger.Sent] &&
			at[ledger.Sent] <= at[ledger.Acked] &&
			at[ledger.Sent] <= at[ledger.Broker] &&
			at[ledger.Broker] <= at[ledger.Kafka] &&
			at[ledger.Kafka] <= at[ledger.Store]
		if !ordered {
			t.Fatalf("%s seq %d out of order: intended %d sent %+d acked %+d broker %+d kafka %+d store %+d (ns after intended)",
				tr.Device, tr.Seq, tr.Intended, at[ledger.Sent]-tr.Intended, at[ledger.Acked]-tr.Intended,
				at[ledger.Broker]-tr.Intended, at[ledger.Kafka]-tr.Intended, at[ledger.Store]-tr.Intended)
		}
	}
	if len(res.Intervals) < 20 {
		t.Errorf("%d intervals for a 22 s run", len(res.Intervals))
	}
}

// TestStoreStallIsMeasuredOpenLoop stalls the store once for 500 ms during a
// steady run. The devices keep their schedule (generator lag stays small), so the
// messages intended during the stall are sent on time and wait in Kafka; their
// latency from intended time must show the stall at the store stage.
func TestStoreStallIsMeasuredOpenLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("10 s end-to-end run; skipped with -short")
	}
	sc := scenario(t, 50, 200*time.Millisecond, 8*time.Second)
	var tgt *embedded.Target
	stall := harness.Fault{At: 5 * time.Second, Kind: "store-stall", Target: "store", Detail: "500ms",
		Do: func(ctx context.Context) error { return tgt.StallStore(ctx, 500*time.Millisecond) }}
	tgt, err := embedded.New(sc, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := harness.Run(ctx, sc, harness.Options{Target: tgt, Faults: []harness.Fault{stall}})
	if err != nil {
		t.Fatal(err)
	}
	store := res.Stage("store")
	if store.Delivery.Lost != 0 {
		t.Fatalf("store lost %d messages", store.Delivery.Lost)
	}
	if store.Latency.P999Us < 400_000 {
		t.Fatalf("store latency p99.9 = %s, want ≥ 400ms: the stall is invisible", time.Duration(store.Latency.P999Us)*time.Microsecond)
	}
	// Open loop: the devices did not wait for the stalled store, so the stall
	// shows in latency, not as late sends.
	if res.GeneratorLag.P99Us >= 250_000 {
		t.Fatalf("generator lag p99 = %s: sends waited for the pipeline", time.Duration(res.GeneratorLag.P99Us)*time.Microsecond)
	}
	if len(res.Faults) != 1 || res.Faults[0].Kind != "store-stall" {
		t.Fatalf("fault events = %+v", res.Faults)
	}
}
