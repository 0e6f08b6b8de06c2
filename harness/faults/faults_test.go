package faults_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/citybench/citybench/harness"
	"github.com/citybench/citybench/harness/faults"
	"github.com/citybench/citybench/harness/target"
	"github.com/citybench/citybench/harness/target/embedded"
	"github.com/citybench/citybench/scenarios"
)

const base = `name: f
seed: 3
warmup: 1s
duration: 5s
drain: 20s
api_sample: 0
fleets:
  - name: env
    devices: 20
    topic: city/{device}
    codec: json
    qos: 1
    sensors: [{metric: t, mean: 1, stddev: 1}]
    arrival: {kind: fixed, interval: 200ms}
faults:
`

func parse(t *testing.T, faultsYAML string) *scenarios.Scenario {
	t.Helper()
	sc, err := scenarios.Parse("f.yaml", []byte(base+faultsYAML))
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func TestCheckRefusesByName(t *testing.T) {
	tests := []struct {
		name, faults, want string
	}{
		{"kafka kill", "  - {at: 2s, duration: 1s, action: kill, target: kafka-2}\n", "f.yaml:16: faults[0].action: the embedded target cannot kill kafka-2: it can stall the store"},
		{"network", "  - {at: 2s, duration: 1s, action: latency, latency: 50ms, target: bridge-1, peer: kafka}\n", "f.yaml:16: faults[0].action: the embedded target cannot latency bridge-1"},
		{"second fault", "  - {at: 1s, duration: 1s, action: stall, target: store}\n  - {at: 3s, duration: 1s, action: pause, target: broker}\n", "f.yaml:17: faults[1].action: the embedded target cannot pause broker"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := parse(t, tt.faults)
			tgt, err := embedded.New(sc, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = faults.Check(sc, tgt)
			var verrs scenarios.ValidationErrors
			if !errors.As(err, &verrs) || len(verrs) != 1 || !strings.Contains(verrs[0].Error(), tt.want) {
				t.Fatalf("Check = %v, want one error containing %q", err, tt.want)
			}
		})
	}
}

// slowActs wraps the embedded target so every fault action takes 300 ms and
// says when it really began.
type slowActs struct {
	*embedded.Target
	mu    sync.Mutex
	began map[string]time.Time
}

func (s *slowActs) PrepareFault(ctx context.Context, f scenarios.Fault) (target.FaultAction, error) {
	a, err := s.Target.PrepareFault(ctx, f)
	if err != nil {
		return a, err
	}
	act := a.Act
	a.Act = func(ctx context.Context) error {
		s.mu.Lock()
		s.began[f.Target] = time.Now()
		s.mu.Unlock()
		time.Sleep(300 * time.Millisecond) // the action itself is slow, e.g. a container stop
		return act(ctx)
	}
	return a, nil
}

// TestRecordedStartIsTheAction runs two faults on the embedded pipeline: each
// recorded start must be within 100 ms of the moment its action began (not when
// a slow action returned), and each window must last its duration.
func TestRecordedStartIsTheAction(t *testing.T) {
	sc := parse(t, "  - {at: 2s, duration: 1500ms, action: stop, target: sink-1}\n  - {at: 4s, duration: 1s, action: stop, target: bridge-1}\n")
	emb, err := embedded.New(sc, nil)
	if err != nil {
		t.Fatal(err)
	}
	tgt := &slowActs{Target: emb, began: map[string]time.Time{}}
	fs, err := faults.Build(sc, tgt)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := harness.Run(ctx, sc, harness.Options{Target: tgt, Faults: fs})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Faults) != 2 {
		t.Fatalf("fault events = %+v", res.Faults)
	}
	sink, bridge := res.Faults[0], res.Faults[1]
	for i, ev := range res.Faults {
		planned := sc.Faults[i]
		if ev.Error != "" {
			t.Errorf("%s: %s", ev.Target, ev.Error)
		}
		if d := ev.AtS - planned.At.D().Seconds(); math.Abs(d) > 0.1 {
			t.Errorf("%s recorded at %.3fs, planned %s", ev.Target, ev.AtS, planned.At.D())
		}
		if ev.ActedS-ev.AtS < 0.3 {
			t.Errorf("%s: action returned %.3fs after its start, want ≥ 0.3s", ev.Target, ev.ActedS-ev.AtS)
		}
		if got := ev.EndS - ev.AtS; got < planned.Duration.D().Seconds() || got > planned.Duration.D().Seconds()+2 {
			t.Errorf("%s window %.3fs, want its duration %s (plus the heal)", ev.Target, got, planned.Duration.D())
		}
	}
	// The wall-clock gap between the two actions equals the recorded gap.
	wall := tgt.began["bridge-1"].Sub(tgt.began["sink-1"]).Seconds()
	if d := (bridge.AtS - sink.AtS) - wall; math.Abs(d) > 0.1 {
		t.Errorf("recorded gap %.3fs, actions %.3fs apart", bridge.AtS-sink.AtS, wall)
	}
	if st := res.Stage("store"); st == nil || st.Delivery.Lost != 0 || st.Delivery.Delivered == 0 {
		t.Errorf("store after a stopped sink and bridge: %+v", st)
	}
}
