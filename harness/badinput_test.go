package harness_test

import (
	"fmt"
	"testing"

	"github.com/citybench/citybench/harness"
	"github.com/citybench/citybench/scenarios"
)

// TestMalformedAreDeadLetteredOnEmbedded sends 5 % malformed messages of every
// kind through the embedded pipeline, per codec: each must be in the dead-letter
// topic with a reason and none in the store, while the valid readings lose
// nothing at any stage (the malformed ones are not counted as loss).
func TestMalformedAreDeadLetteredOnEmbedded(t *testing.T) {
	for _, tc := range []struct{ codec, topic string }{
		{"json", "city/{device}"},
		{"protobuf", "city/{device}"},
		{"text", "city/{device}/{metric}"},
	} {
		t.Run(tc.codec, func(t *testing.T) {
			sc, err := scenarios.Parse("malformed.yaml", []byte(fmt.Sprintf(`
name: malformed-%s
seed: 5
duration: 4s
drain: 20s
api_sample: 0
fleets:
  - name: env
    devices: 20
    topic: %s
    codec: %s
    qos: 1
    malformed: 0.05
    sensors:
      - {metric: temperature, mean: 28.7, stddev: 3.5}
    arrival: {kind: fixed, interval: 50ms}
slos:
  - "malformed.dead_lettered_ratio == 1"
  - "malformed.stored == 0"
`, tc.codec, tc.topic, tc.codec)))
			if err != nil {
				t.Fatal(err)
			}
			res, _ := run(t, sc, harness.Options{})
			mf := res.Malformed
			if mf == nil || !mf.Verified {
				t.Fatalf("malformed section %+v: want a verified one", mf)
			}
			if mf.Total.Injected < 40 {
				t.Fatalf("injected %d malformed messages, want ≥ 40 (5 %% of ≈1,600)", mf.Total.Injected)
			}
			if len(mf.Kinds) != len(scenarios.MalformedKinds) {
				t.Errorf("kinds sent %+v, want all %d", mf.Kinds, len(scenarios.MalformedKinds))
			}
			for _, k := range mf.Kinds {
				t.Logf("%s: injected %d dead-lettered %d stored %d reasons %v", k.Kind, k.Injected, k.DeadLettered, k.Stored, k.Reasons)
				if k.DeadLettered != k.Injected || k.Stored != 0 || k.Missing != 0 {
					t.Errorf("kind %s: injected %d dead-lettered %d stored %d missing %d; want all dead-lettered, none stored",
						k.Kind, k.Injected, k.DeadLettered, k.Stored, k.Missing)
				}
				var reasons int64
				for _, n := range k.Reasons {
					reasons += n
				}
				if reasons != k.DeadLettered {
					t.Errorf("kind %s: %d reasons for %d dead letters: %v", k.Kind, reasons, k.DeadLettered, k.Reasons)
				}
			}
			if len(mf.Unmatched) > 0 {
				t.Errorf("dead letters that were no malformed message: %v", mf.Unmatched)
			}
			for _, st := range res.Stages {
				if st.Delivery.Lost != 0 {
					t.Errorf("stage %s lost %d of %d: malformed messages must not count as loss", st.Stage, st.Delivery.Lost, st.Delivery.Expected)
				}
			}
			for _, v := range res.SLOs {
				if !v.Pass {
					t.Errorf("SLO %s failed: observed %v (%s)", v.Expr, v.Observed, v.Note)
				}
			}
		})
	}
}
