package capacity_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/citybench/citybench/harness/capacity"
	"github.com/citybench/citybench/harness/target"
	"github.com/citybench/citybench/harness/target/embedded"
	"github.com/citybench/citybench/scenarios"
)

// countingTarget counts how often the topology is really brought up and down.
type countingTarget struct {
	target.Target
	starts, stops atomic.Int32
}

func (c *countingTarget) Start(ctx context.Context) (target.Endpoints, error) {
	c.starts.Add(1)
	return c.Target.Start(ctx)
}

func (c *countingTarget) Stop(ctx context.Context) error {
	c.stops.Add(1)
	return c.Target.Stop(ctx)
}

// TestRunnerStepsOnOneTopology runs two steps on the embedded pipeline: one
// start, one stop at the end, each step's result kept, the rates as asked and
// the sink caught up between steps.
func TestRunnerStepsOnOneTopology(t *testing.T) {
	sc, err := scenarios.Parse("cap.yaml", []byte(`
name: cap
seed: 3
warmup: 1s
duration: 2s
drain: 20s
fleets:
  - name: env
    devices: 20
    model: env-v1
    topic: city/{district}/{device}
    locations: {district: [n, s]}
    codec: json
    qos: 1
    sensors:
      - {metric: temperature, mean: 20, stddev: 2}
    arrival: {kind: fixed, interval: 1s, jitter: 20ms}
`))
	if err != nil {
		t.Fatal(err)
	}
	base, fleets, err := capacity.BaseLoad(sc)
	if err != nil {
		t.Fatal(err)
	}
	if base < 19 || base > 21 || len(fleets) != 1 || fleets[0].Devices != 20 {
		t.Fatalf("base load %.1f msgs/s %+v, want 20 devices at 1 msg/s", base, fleets)
	}
	emb, err := embedded.New(sc, nil)
	if err != nil {
		t.Fatal(err)
	}
	ct := &countingTarget{Target: emb}
	sh := capacity.Share(ct)
	dir := t.TempDir()
	rn := &capacity.Runner{Scenario: sc, Target: sh, By: capacity.ByRate, BaseRate: base, Dir: dir}
	for i, rate := range []float64{40, 80} {
		e, err := rn.RunStep(t.Context(), capacity.Step{Index: i + 1, Kind: capacity.KindBracket, Rate: rate, Hold: 3 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if e.OfferedRate < 0.9*rate || e.OfferedRate > 1.1*rate {
			t.Errorf("step %d offered %.1f msgs/s, want %.0f", i+1, e.OfferedRate, rate)
		}
		// The pipeline's counters accumulate over the shared topology; a step reports its own share.
		if w, want := float64(e.Counters["sink_written"]), rate*4; w < 0.8*want || w > 1.2*want {
			t.Errorf("step %d: sink wrote %.0f rows, want ≈ %.0f (1 s warm-up + 3 s at %.0f msgs/s)", i+1, w, want, rate)
		}
		if lag, ok := e.Counters["sink_lag_after_drain"]; !ok || lag != 0 {
			t.Errorf("step %d: sink lag after the drain %d (measured %v), want 0", i+1, lag, ok)
		}
		if _, err := os.Stat(filepath.Join(dir, e.ResultFile)); err != nil || !strings.HasPrefix(e.ResultFile, capacity.StepsDir) {
			t.Errorf("step %d result %q not kept: %v", i+1, e.ResultFile, err)
		}
		// Linux hosts say how busy their CPUs were, so a busy host is told from a slow pipeline.
		if _, err := os.Stat("/proc/stat"); err == nil && (e.HostCPU <= 0 || e.OtherCPU < 0 || e.OtherCPU > e.HostCPU) {
			t.Errorf("step %d: host CPU %.0f %%, others %.0f %%: want the host's use measured over the hold", i+1, e.HostCPU, e.OtherCPU)
		}
		if pass, why := capacity.Judge(e, capacity.Criteria{}); !pass {
			t.Logf("step %d did not pass on this host: %v", i+1, why)
		}
	}
	if other, err := rn.WaitQuiet(t.Context(), 1, 10*time.Second); err != nil || other < 0 || other > 1 {
		t.Errorf("other work's share of the host %.2f (%v), want a share between 0 and 1", other, err)
	}
	if n := ct.starts.Load(); n != 1 {
		t.Errorf("target started %d times, want once for every step", n)
	}
	if n := ct.stops.Load(); n != 0 {
		t.Errorf("target stopped %d times between steps, want none", n)
	}
	fp, err := capacity.Footprint(t.Context(), sh)
	if err != nil || !fp.Estimate || fp.Rows < 300 {
		t.Errorf("footprint %+v (%v), want the memory store's labelled estimate of the ≈ 360 measured rows", fp, err)
	}
	if err := sh.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := ct.stops.Load(); n != 1 {
		t.Errorf("target stopped %d times after Close, want 1", n)
	}
}
