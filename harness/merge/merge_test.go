package merge_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/citybench/citybench/harness"
	"github.com/citybench/citybench/harness/merge"
	"github.com/citybench/citybench/harness/schedule"
	"github.com/citybench/citybench/harness/target/embedded"
	"github.com/citybench/citybench/reports/result"
	"github.com/citybench/citybench/scenarios"
)

const scenarioYAML = `
name: seg
seed: 23
warmup: 1s
duration: 4s
drain: 20s
api_sample: 0.05
slos: ["store.loss == 0"]
fleets:
  - name: meter
    devices: 40
    model: m-v1
    topic: city/{district}/{device}
    locations: {district: [n, s, e]}
    codec: json
    qos: 1
    sensors:
      - {metric: kwh, mean: 3, stddev: 1}
    arrival: {kind: fixed, interval: 500ms, jitter: 50ms}
  - name: air
    devices: 11
    model: a-v1
    topic: city/{district}/{device}
    locations: {district: [n, s]}
    codec: json
    qos: 2
    sensors:
      - {metric: no2, mean: 87.3, stddev: 0.5}
    arrival: {kind: poisson, interval: 700ms}
`

// runSegment runs one segment on its own embedded pipeline; a non-zero start
// is the segments' shared offset 0. It is safe to call from several goroutines.
func runSegment(t *testing.T, seg schedule.Segment, start time.Time) (*result.Result, error) {
	sc, err := scenarios.Parse("seg.yaml", []byte(scenarioYAML))
	if err != nil {
		return nil, err
	}
	tgt, err := embedded.New(sc, nil)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := harness.Run(ctx, sc, harness.Options{Target: tgt, Segment: seg, StartAt: start})
	if err != nil {
		return nil, fmt.Errorf("segment %s: %w", seg, err)
	}
	return res, nil
}

// TestMergeIsExact runs one scenario and seed as one process and as three
// segments, merges the segments and wants the same accounting at every stage,
// the same offered series, and merged histograms holding every segment's values.
// The segments run at once from one start time, as pods of an Indexed Job do.
// (Each segment here has its own embedded pipeline; the figures compared are the
// ones that do not depend on which pipeline carried a message.)
func TestMergeIsExact(t *testing.T) {
	if testing.Short() {
		t.Skip("two 6 s end-to-end runs; skipped with -short")
	}
	whole, err := runSegment(t, schedule.Whole, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(3 * time.Second).Truncate(time.Millisecond)
	parts := make([]*result.Result, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range parts {
		wg.Go(func() { parts[i], errs[i] = runSegment(t, schedule.Segment{I: i, N: 3}, start) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	for _, p := range parts {
		if !p.Meta.OffsetZero.Equal(start) {
			t.Fatalf("segment %s started at %s, not the shared %s", p.Meta.Segment, p.Meta.OffsetZero, start)
		}
	}
	merged, err := merge.Results(parts)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range merged.Warnings {
		if strings.Contains(w, "offset 0 differs") {
			t.Errorf("segments with one start time: %s", w)
		}
	}
	if merged.Meta.Segments != 3 || len(merged.Workers) != 3 {
		t.Fatalf("merged: %d segments, %d workers", merged.Meta.Segments, len(merged.Workers))
	}
	for _, m := range merge.Mismatches(whole, merged) {
		t.Errorf("whole and merged differ: %s", m)
	}
	for _, m := range merged.Stages {
		var sum int64
		for _, p := range parts {
			if s := p.Stage(m.Stage); s != nil {
				sum += s.Latency.Count
			}
		}
		if m.Delivery.Expected == 0 || m.Latency.Count != sum {
			t.Errorf("stage %s: expected %d, merged latency count %d, segments' %d", m.Stage, m.Delivery.Expected, m.Latency.Count, sum)
		}
		t.Logf("stage %s: expected %d delivered %d lost %d dup %d; latency count %d", m.Stage, m.Delivery.Expected, m.Delivery.Delivered, m.Delivery.Lost, m.Delivery.Duplicated, m.Latency.Count)
	}
	for i, iv := range whole.Intervals {
		if i < len(merged.Intervals) && merged.Intervals[i].Offered != iv.Offered {
			t.Errorf("second %d: offered %d merged, %d whole", i, merged.Intervals[i].Offered, iv.Offered)
		}
	}
	if ws, ms := whole.Stage(result.StageSent), merged.Stage(result.StageSent); ws == nil || ms == nil || ws.SizedMessages == 0 || ms.SizedMessages != ws.SizedMessages {
		t.Errorf("sent payload sizes: merged %+v, whole %+v — want the same messages sized", ms, ws)
	}
	if merged.GeneratorLag.Count != whole.GeneratorLag.Count {
		t.Errorf("generator lag count: merged %d, whole %d", merged.GeneratorLag.Count, whole.GeneratorLag.Count)
	}
	if len(merged.SLOs) != 1 || !merged.SLOs[0].Pass {
		t.Errorf("merged SLOs = %+v, want store.loss == 0 judged and passing", merged.SLOs)
	}
}

func TestMismatchesCanFail(t *testing.T) {
	a := &result.Result{Meta: result.Meta{Devices: 2}, Stages: []result.StageSummary{{Stage: "store", Delivery: result.Delivery{Expected: 10, Delivered: 10}}}}
	b := &result.Result{Meta: result.Meta{Devices: 2}, Stages: []result.StageSummary{{Stage: "store", Delivery: result.Delivery{Expected: 10, Delivered: 9, Lost: 1}}}}
	if m := merge.Mismatches(a, a); m != nil {
		t.Errorf("a result disagrees with itself: %v", m)
	}
	if m := merge.Mismatches(a, b); len(m) != 1 {
		t.Errorf("one lost message: mismatches %v", m)
	}
}

func TestMergeRefusesPartsOfOtherRuns(t *testing.T) {
	part := func(seg, hash string, seed int64) *result.Result {
		return &result.Result{SchemaVersion: result.SchemaVersion, Meta: result.Meta{Segment: seg, ScenarioHash: hash, Seed: seed}}
	}
	tests := []struct {
		name  string
		parts []*result.Result
	}{
		{"none", nil},
		{"missing segment", []*result.Result{part("0/3", "h", 1), part("2/3", "h", 1)}},
		{"duplicate segment", []*result.Result{part("0/2", "h", 1), part("0/2", "h", 1)}},
		{"other scenario", []*result.Result{part("0/2", "h", 1), part("1/2", "other", 1)}},
		{"other seed", []*result.Result{part("0/2", "h", 1), part("1/2", "h", 2)}},
		{"other split", []*result.Result{part("0/2", "h", 1), part("1/3", "h", 1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := merge.Results(tt.parts); err == nil {
				t.Fatal("merged parts that are not one run")
			} else {
				t.Log(err)
			}
		})
	}
	if _, err := merge.Results([]*result.Result{part("1/2", "h", 1), part("0/2", "h", 1)}); err != nil {
		t.Fatalf("two halves of one run: %v", err)
	}
}

func TestMergeOrdersWorkersBySegment(t *testing.T) {
	var parts []*result.Result
	for i := 11; i >= 0; i-- {
		parts = append(parts, &result.Result{SchemaVersion: result.SchemaVersion, Meta: result.Meta{Segment: schedule.Segment{I: i, N: 12}.String(), ScenarioHash: "h"}})
	}
	merged, err := merge.Results(parts)
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range merged.Workers {
		if want := (schedule.Segment{I: i, N: 12}).String(); w.Segment != want {
			t.Fatalf("worker %d is segment %s, want %s", i, w.Segment, want)
		}
	}
	if parts[0].Meta.Segment != "11/12" {
		t.Error("Results reordered its caller's slice")
	}
}

// TestMergeBytesAndClosedLoop: bytes per message merges as the mean over every
// sized message (not the mean of the segments' means), and burst results, whose
// rates the parts cannot rebuild, are refused with ErrClosedLoop.
func TestMergeBytesAndClosedLoop(t *testing.T) {
	part := func(seg string, bpm float64, sized int64, flags ...string) *result.Result {
		return &result.Result{SchemaVersion: result.SchemaVersion, Flags: flags, Meta: result.Meta{Segment: seg, ScenarioHash: "h"},
			Stages: []result.StageSummary{{Stage: result.StageSent, Delivery: result.Delivery{Expected: sized, Delivered: sized}, BytesPerMessage: bpm, SizedMessages: sized}}}
	}
	merged, err := merge.Results([]*result.Result{part("0/2", 100, 1), part("1/2", 200, 3)})
	if err != nil {
		t.Fatal(err)
	}
	if st := merged.Stage(result.StageSent); st == nil || st.BytesPerMessage != 175 || st.SizedMessages != 4 {
		t.Errorf("merged sent stage %+v: want 175 bytes per message over 4 messages", st)
	}
	_, err = merge.Results([]*result.Result{part("0/2", 100, 1, result.FlagClosedLoop), part("1/2", 200, 3, result.FlagClosedLoop)})
	if !errors.Is(err, merge.ErrClosedLoop) {
		t.Fatalf("closed-loop parts: err %v, want ErrClosedLoop", err)
	}
	t.Log(err)
}

// TestMergeAddsMQTT5ReasonCodes: the segments' reason codes add up per kind and code.
func TestMergeAddsMQTT5ReasonCodes(t *testing.T) {
	part := func(seg string, codes map[string]map[string]int64) *result.Result {
		return &result.Result{SchemaVersion: result.SchemaVersion, Meta: result.Meta{Segment: seg, ScenarioHash: "h"}, MQTT5ReasonCodes: codes}
	}
	merged, err := merge.Results([]*result.Result{
		part("0/2", map[string]map[string]int64{"puback": {"0x00 success": 5}, "connack": {"0x00 success": 2}}),
		part("1/2", map[string]map[string]int64{"puback": {"0x00 success": 7, "0x97 quota exceeded": 1}}),
	})
	if err != nil {
		t.Fatal(err)
	}
	got := merged.MQTT5ReasonCodes
	if got["puback"]["0x00 success"] != 12 || got["puback"]["0x97 quota exceeded"] != 1 || got["connack"]["0x00 success"] != 2 {
		t.Errorf("merged reason codes %v", got)
	}
}
