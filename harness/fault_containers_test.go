//go:build containers

package harness_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/citybench/citybench/harness"
	"github.com/citybench/citybench/reports/result"
	"github.com/citybench/citybench/scenarios"
	"github.com/citybench/citybench/testcontainers"
)

// firstWrite calls fn once, on the first progress line: load has started.
type firstWrite struct {
	once sync.Once
	fn   func()
}

func (w *firstWrite) Write(p []byte) (int, error) {
	w.once.Do(w.fn)
	return len(p), nil
}

// TestKafkaBrokerKilledFromOutside is the fault a user causes without telling
// citybench: during a plain steady run (100 QoS 2 devices, ≈ 800 msgs/s, 60 s) one
// of the three Kafka brokers (RF 3, min ISR 2) is killed with the Docker API for
// 15 s and started again. No tap may die with it: the store loses nothing, the
// Kafka stage blames no loss on the pipeline that its tap caused, nothing is left
// unverified, and any tap outage is named as the tap's, healed by the end.
func TestKafkaBrokerKilledFromOutside(t *testing.T) {
	sc, err := scenarios.Load("../scenarios/steady-qos2.yaml")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	tg := testcontainers.NewTarget(sc.Target, testcontainers.WithLogger(log))
	dc, err := client.New(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	victim := "citybench-" + tg.RunID() + "-kafka-2"

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	var killedAt, startedAt time.Time
	var chaosErr error
	chaos := func() {
		defer wg.Done()
		if !sleepCtx(ctx, 20*time.Second) {
			return
		}
		killedAt = time.Now()
		if _, chaosErr = dc.ContainerKill(ctx, victim, client.ContainerKillOptions{Signal: "KILL"}); chaosErr != nil {
			return
		}
		sleepCtx(ctx, 15*time.Second)
		// Started again even if the run was cut short: the target's teardown needs it.
		_, chaosErr = dc.ContainerStart(context.WithoutCancel(ctx), victim, client.ContainerStartOptions{})
		startedAt = time.Now()
	}
	wg.Add(1)
	progress := &firstWrite{fn: func() { go chaos() }}
	res, err := harness.Run(ctx, sc, harness.Options{Target: tg, Logger: log, Progress: progress})
	progress.once.Do(wg.Done) // load never started: no chaos to wait for
	wg.Wait()
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if chaosErr != nil {
		t.Fatalf("kill/start %s: %v", victim, chaosErr)
	}
	if killedAt.IsZero() || startedAt.Sub(killedAt) < 15*time.Second {
		t.Fatalf("%s was not down for 15 s (killed %v, started %v)", victim, killedAt, startedAt)
	}
	if left, err := testcontainers.Leftovers(context.Background(), tg.RunID()); err != nil || len(left) > 0 {
		t.Errorf("left after the run: %v %v", left, err)
	}
	for _, stage := range result.Stages {
		st := res.Stage(stage)
		if st == nil {
			t.Errorf("stage %s not measured", stage)
			continue
		}
		t.Logf("%-6s %+v", stage, st.Delivery)
	}
	for _, stage := range []string{result.StageKafka, result.StageStore} {
		if d := res.Stage(stage).Delivery; d.Lost != 0 || d.Unverified != 0 || d.Expected < 40_000 {
			t.Errorf("%s: %+v — want ≥ 40,000 expected, none lost or unverified", stage, d)
		}
	}
	for _, o := range res.TapOutages {
		t.Logf("tap outage: %+v", o)
		if o.Open {
			t.Errorf("tap %s still unavailable at the end: %s", o.Tap, o.Reason)
		}
	}
	if len(res.Faults) != 0 {
		t.Errorf("faults %+v recorded: the kill was not declared", res.Faults)
	}
	t.Logf("counters %v\nwarnings %s", res.Counters, strings.Join(res.Warnings, "\n"))
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-tm.C:
		return true
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
