package harness

import (
	"context"
	"fmt"
	"slices"
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
	// Report is the read-back tap's own: outages, unverified devices, warnings.
	Report taps.Report
}

// ReadBackStore computes StoreStage for sc's whole plan; offset 0 is start.
func ReadBackStore(ctx context.Context, sc *scenarios.Scenario, st store.Store, start time.Time, until time.Duration) (*StoreStage, error) {
	plan, err := schedule.Build(sc)
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	led := ledger.New(plan, ledger.WithDeadline(sc.AvailabilityDeadline.D()))
	led.SetStart(start)
	tap := taps.NewStore(st, storeReadBackPoll)
	if err := tap.Start(ctx, taps.Env{Plan: plan, Rec: led}); err != nil {
		return nil, fmt.Errorf("store read-back: %w", err)
	}
	rep := tap.Stop(ctx, until)
	sum, err := led.Summarise(ledger.Window{Until: until,
		Expect:     func(s ledger.Stage, _ int) bool { return s == ledger.Store },
		Unverified: unverifiedFunc([]taps.Report{rep})})
	if err != nil {
		return nil, err
	}
	out := &StoreStage{Intervals: sum.Intervals, Report: rep}
	for _, s := range sum.Stages {
		if s.Stage == result.StageStore {
			out.Stage = s
		}
	}
	out.Stage.ServiceTime, out.Stage.ServiceTimeHDR = result.Quantiles{}, ""
	out.Stage.Note = "read back by the coordinator (the store is in its memory): no service time, as the send times stayed with the workers"
	return out, nil
}

// Apply puts the store stage into res — in pipeline order among its stages, into
// every second of its series — with the read-back tap's outages and warnings.
func (s *StoreStage) Apply(res *result.Result) {
	at := len(res.Stages)
	for i, st := range res.Stages {
		if slices.Index(result.Stages, st.Stage) > slices.Index(result.Stages, result.StageStore) {
			at = i
			break
		}
	}
	res.Stages = slices.Insert(res.Stages, at, s.Stage)
	for i, iv := range s.Intervals {
		if st, ok := iv.Stages[result.StageStore]; ok && i < len(res.Intervals) {
			res.Intervals[i].Stages[result.StageStore] = st
		}
	}
	if res.Counters == nil {
		res.Counters = map[string]int64{}
	}
	addTapReports(res, []taps.Report{s.Report})
}
