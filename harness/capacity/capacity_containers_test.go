//go:build containers

package capacity_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/citybench/citybench/harness/capacity"
	"github.com/citybench/citybench/reports/result"
	"github.com/citybench/citybench/scenarios"
	"github.com/citybench/citybench/testcontainers"
)

// TestCassandraCappedFromOutside caps Cassandra's container to a tenth of a
// CPU the way a user would (`docker update --cpus 0.1`, here through the
// Docker API) once the topology is up, then searches the smoke scenario's
// capacity on it. The search must name cassandra-1 at the store stage, with
// its CPU as a share of the 10 % limit read back from Docker — not of the
// host's cores — and the store's backlog as evidence. (A quarter of a CPU is
// not enough here: Cassandra then keeps up to ≈ 6,800 msgs/s, past where a
// two-core host running harness and pipeline gives out.)
func TestCassandraCappedFromOutside(t *testing.T) {
	sc, err := scenarios.Load("../../scenarios/smoke.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sc.Target.Kind = "containers"
	log := slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	tg := testcontainers.NewTarget(sc.Target, testcontainers.WithLogger(log), testcontainers.WithRunDir(t.TempDir()))
	sh := capacity.Share(tg)
	ctx, cancel := context.WithTimeout(t.Context(), 12*time.Minute)
	defer cancel()
	t.Cleanup(func() {
		cctx, ccancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer ccancel()
		if err := sh.Close(cctx); err != nil {
			t.Errorf("stop topology: %v", err)
		}
	})
	if _, err := sh.Start(ctx); err != nil {
		t.Fatal(err)
	}
	id, ok := tg.Containers()["cassandra-1"]
	if !ok {
		t.Fatalf("no cassandra-1 among %v", tg.Containers())
	}
	dc, err := client.New(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	if _, err := dc.ContainerUpdate(ctx, id, client.ContainerUpdateOptions{Resources: &container.Resources{NanoCPUs: 100_000_000}}); err != nil {
		t.Fatalf("docker update --cpus 0.1 cassandra-1: %v", err)
	}

	base, _, err := capacity.BaseLoad(sc)
	if err != nil {
		t.Fatal(err)
	}
	rn := &capacity.Runner{Scenario: sc, Target: sh, By: capacity.ByRate, BaseRate: base, Dir: t.TempDir(), Logger: log, Progress: testLog{t}}
	out, err := capacity.Search(ctx, rn, capacity.Config{
		StartRate: base, StepHold: 8 * time.Second, ConfirmHold: 16 * time.Second, Precision: 0.1, MaxSteps: 14,
		OnStep: func(e result.StepEntry) {
			t.Logf("step %d %s %.0f msgs/s pass %v %v", e.Index, e.Kind, e.Rate, e.Pass, e.Reasons)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if js, err := json.Marshal(out.Steps); err == nil {
		t.Logf("steps: %s", js) // to judge a failure afterwards: the step folders go with the test
	}
	b := capacity.Bottleneck(out, capacity.Criteria{})
	ev := strings.Join(b.Evidence, "\n")
	t.Logf("knee %.0f msgs/s (confirmed %v, stopped %s); bottleneck %s at %s:\n%s", out.Max, out.Confirmed, out.Stopped, b.Component, b.Stage, ev)
	if b.Component != "cassandra-1" || b.Stage != result.StageStore {
		t.Errorf("bottleneck %s at the %q stage, want cassandra-1 at the store stage", b.Component, b.Stage)
	}
	if !strings.Contains(ev, "of its 10 % allowance") || !strings.Contains(ev, "store backlog") {
		t.Errorf("evidence lacks Cassandra's share of its 10 %% limit or the store's backlog")
	}
	for _, e := range out.Steps {
		for _, u := range e.Resources {
			if u.Component == "cassandra-1" && u.CPULimit != 10 {
				t.Errorf("step %d read cassandra-1's CPU limit as %.0f %%, want 10 %% (NanoCpus)", e.Index, u.CPULimit)
			}
		}
	}
}

type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
