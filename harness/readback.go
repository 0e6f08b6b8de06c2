package harness

import (
	"context"
	"fmt"
	"time"

	"github.com/citybench/citybench/harness/ledger"
	"github.com/citybench/citybench/harness/schedule"
	"github.com/citybench/citybench/harness/taps"
	"github.com/citybench/citybench/pipeline/store"
	"github.com/citybench/citybench/reports/result"
	"github.com/citybench/citybench/scenarios"
)

// StoreStage is the store stage of a run whose devices ran in other processes
// against a store only this process reaches (the embedded pipeline's, in its
// memory): it reads back every planned message intended before until, at the
// store's own write times, and summarises the stage — latency from intended
// time, per-second series, delivery accounting — as the devices' process would
// have. Service time needs the send times, which stayed with the devices: it is
// left empty, and the note says so.
type StoreStage struct {
	Stage     result.StageSummary
	Intervals []result.Interval // only the store stage's entries are set
	Missing   int               // planned rows still absent when ctx ended
	ReadErr   error             // the last read-back error, if rows were missing
}

// ReadBackStore computes StoreStage for sc's whole plan; offset 0 is start.
func ReadBackStore(ctx context.Context, sc *scenarios.Scenario, st store.Store, start time.Time, until time.Duration) (*StoreStage, error) {
	plan, err := schedule.Build(sc)
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	led := ledger.New(plan)
	led.SetStart(start)
	missing, readErr := taps.ReadBack(ctx, st, led, until, 200*time.Millisecond)
	sum, err := led.Summarise(ledger.Window{From: plan.Warmup, Until: until, Deadline: sc.AvailabilityDeadline.D(),
		Expect: func(s ledger.Stage, _ int) bool { return s == ledger.Store }})
	if err != nil {
		return nil, err
	}
	out := &StoreStage{Intervals: sum.Intervals, Missing: missing, ReadErr: readErr}
	for _, s := range sum.Stages {
		if s.Stage == result.StageStore {
			out.Stage = s
		}
	}
	out.Stage.ServiceTime, out.Stage.ServiceTimeHDR = result.Quantiles{}, ""
	out.Stage.Note = "read back by the coordinator (the store is in its memory): no service time, as the send times stayed with the workers"
	return out, nil
}
