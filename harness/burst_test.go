package harness_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/citybench/citybench/harness"
	"github.com/citybench/citybench/harness/ledger"
	"github.com/citybench/citybench/reports/result"
	"github.com/citybench/citybench/scenarios"
)

func burstScenario(t *testing.T, devices, count, inflight, qos int) *scenarios.Scenario {
	t.Helper()
	sc, err := scenarios.Parse("burst.yaml", []byte(fmt.Sprintf(`
name: burst
seed: 5
duration: 2m
drain: 20s
api_sample: 0
fleets:
  - name: node
    devices: %d
    topic: /net/{device}/gr/samos/vathy/campus/a1/b1/r1/temperature
    codec: json
    qos: %d
    sensors:
      - {metric: temperature, mean: 24, stddev: 2}
    arrival: {kind: burst, count: %d, inflight: %d}
`, devices, qos, count, inflight)))
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// TestBurstStoresEveryMessage is the acceptance run: 3 devices × 3,000 messages
// back to back at QoS 2 all reach the store, and the result reports the stored
// messages per second of a closed-loop run.
func TestBurstStoresEveryMessage(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end burst of 9,000 messages; skipped with -short")
	}
	res, _ := run(t, burstScenario(t, 3, 3000, 1, 2), harness.Options{})
	if !res.HasFlag(result.FlagClosedLoop) {
		t.Errorf("flags %v: a burst run must say it is closed loop", res.Flags)
	}
	for _, name := range []string{result.StageSent, result.StageAcked, result.StageBroker, result.StageKafka, result.StageStore} {
		st := res.Stage(name)
		if st == nil {
			t.Fatalf("no %s stage", name)
		}
		if st.Delivery.Expected != 9000 || st.Delivery.Delivered != 9000 || st.Delivery.Lost != 0 {
			t.Errorf("%s: %+v, want 9,000 delivered and none lost", name, st.Delivery)
		}
		if st.RatePerS <= 0 {
			t.Errorf("%s: no rate", name)
		}
	}
	store := res.Stage(result.StageStore)
	// Every stored row is "node-0000N", its day, time, seq and one metric:
	// 10 + 10 + 8 + 8 + 4 + (4 + len("temperature") + 4 + 8) column bytes.
	if want := 10.0 + 10 + 8 + 8 + 4 + 4 + 11 + 4 + 8; store.BytesPerMessage != want {
		t.Errorf("store bytes per message %.2f, want %.0f", store.BytesPerMessage, want)
	}
	if sent := res.Stage(result.StageSent).BytesPerMessage; !(sent > 50 && sent < 1024) {
		t.Errorf("sent bytes per message %.1f: want a sub-1 KB JSON reading", sent)
	}
	// The rate spans the whole burst: every message is sent before it is stored,
	// so the store's span (first send → last write) is no shorter than the sent
	// stage's, and the last write lands at most the store's max latency after the
	// measured window (which ends once the last burst was acknowledged).
	if sent := res.Stage(result.StageSent).RatePerS; store.RatePerS > sent {
		t.Errorf("store rate %.1f/s above the sent rate %.1f/s", store.RatePerS, sent)
	}
	window := res.Meta.DurationS + float64(store.Latency.MaxUs)/1e6
	if floor := 9000 / window; store.RatePerS < floor*0.99 {
		t.Errorf("store rate %.1f/s below 9,000 / (%.2f s measured + %.3f s max store latency)", store.RatePerS, res.Meta.DurationS, float64(store.Latency.MaxUs)/1e6)
	}
	t.Logf("stored %.0f msgs/s over %.2f s; acked %.0f/s", store.RatePerS, res.Meta.DurationS, res.Stage(result.StageAcked).RatePerS)
}

// TestBurstInflightHonoured checks, from every message's sent and acked times,
// that a device never had more than its in-flight bound unacknowledged, that it
// used the whole window, and that each message became due exactly when its
// slot's previous holder was acknowledged.
func TestBurstInflightHonoured(t *testing.T) {
	for _, k := range []int{1, 4} {
		t.Run(fmt.Sprintf("inflight=%d", k), func(t *testing.T) {
			const count = 400
			var traces []ledger.SampleTrace
			res, _ := run(t, burstScenario(t, 1, count, k, 1), harness.Options{TraceSamples: count, Trace: func(tr []ledger.SampleTrace) { traces = tr }})
			if got := res.Stage(result.StageAcked).Delivery.Delivered; got != count || len(traces) != count {
				t.Fatalf("acked %d, traces %d, want %d", got, len(traces), count)
			}
			if peak := peakInflight(traces); peak != k {
				t.Errorf("peak unacknowledged = %d, want exactly the bound %d", peak, k)
			}
			slices.SortFunc(traces, func(a, b ledger.SampleTrace) int { return int(a.Seq) - int(b.Seq) })
			acks := make([]int64, 0, count)
			for _, tr := range traces {
				acks = append(acks, tr.At[ledger.Acked])
			}
			slices.Sort(acks)
			// Message k+i is due when the i-th acknowledgement freed a slot.
			for i, tr := range traces[k:] {
				if tr.Intended != acks[i] {
					t.Fatalf("seq %d intended %d, want the %d-th ack at %d", tr.Seq, tr.Intended, i+1, acks[i])
				}
				if tr.At[ledger.Sent] < tr.Intended {
					t.Fatalf("seq %d sent before it was due", tr.Seq)
				}
			}
		})
	}
}

// peakInflight replays sends (+1) and acknowledgements (−1) in time order; an
// acknowledgement at the same nanosecond as a send came first (the freed slot
// let the send go).
func peakInflight(traces []ledger.SampleTrace) int {
	type event struct {
		at    int64
		delta int
	}
	var evs []event
	for _, tr := range traces {
		evs = append(evs, event{tr.At[ledger.Sent], +1}, event{tr.At[ledger.Acked], -1})
	}
	slices.SortFunc(evs, func(a, b event) int {
		if a.at != b.at {
			return int(a.at - b.at)
		}
		return a.delta - b.delta
	})
	cur, peak := 0, 0
	for _, e := range evs {
		cur += e.delta
		peak = max(peak, cur)
	}
	return peak
}
