package ledger

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/citybench/citybench/harness/schedule"
	"github.com/citybench/citybench/scenarios"
)

// plan builds a plan of one device sending n messages, one every 100 ms, the
// first within the first 100 ms.
func plan(n int) *schedule.Plan {
	sc, err := scenarios.Parse("ledger-test.yaml", []byte(fmt.Sprintf(`
name: ledger-test
seed: 1
duration: %dms
fleets:
  - name: f
    devices: 1
    model: m
    topic: t/{device}
    codec: json
    qos: 1
    sensors: [{metric: x, mean: 1, stddev: 0}]
    arrival: {kind: fixed, interval: 100ms}
`, n*100)))
	if err != nil {
		panic(err)
	}
	p, err := schedule.Build(sc)
	if err != nil {
		panic(err)
	}
	if got := p.Count(); got != n {
		panic(fmt.Sprintf("test plan has %d messages, want %d", got, n))
	}
	return p
}

func TestAccounting(t *testing.T) {
	l := New(plan(10), WithDeadline(5*time.Millisecond))
	start := time.Unix(1000, 0)
	l.SetStart(start)
	at := func(seq uint64, lat time.Duration) int64 { return l.Intended(0, seq) + int64(lat) }
	// Kafka sees 1..8 with 3 and 4 swapped, 5 twice, 9 and 10 never; one stranger.
	for _, seq := range []uint64{1, 2, 4, 3, 5, 5, 6, 7, 8} {
		l.Observe(Kafka, 0, seq, at(seq, 10*time.Millisecond))
	}
	l.Observe(Kafka, 0, 99, at(1, 0))
	l.ObserveByID(Kafka, "nobody", 1, at(1, 0))
	for seq := uint64(1); seq <= 10; seq++ {
		l.Observe(Sent, 0, seq, at(seq, time.Millisecond))
	}
	sum, err := l.Summarise(Window{Until: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var kafka, sent *struct{ d, lost, dup, re, within int64 }
	for _, s := range sum.Stages {
		v := &struct{ d, lost, dup, re, within int64 }{s.Delivery.Delivered, s.Delivery.Lost, s.Delivery.Duplicated, s.Delivery.Reordered, s.Delivery.WithinDeadline}
		switch s.Stage {
		case "kafka":
			kafka = v
		case "sent":
			sent = v
		}
	}
	if kafka == nil || sent == nil {
		t.Fatalf("stages missing: %+v", sum.Stages)
	}
	if *kafka != (struct{ d, lost, dup, re, within int64 }{8, 2, 1, 1, 0}) {
		t.Fatalf("kafka delivery = %+v, want delivered 8 lost 2 dup 1 reordered 1 within-deadline 0", *kafka)
	}
	if sent.d != 10 || sent.within != 10 {
		t.Fatalf("sent delivery = %+v", *sent)
	}
	if got := l.Unknown(Kafka); got != 2 {
		t.Fatalf("unknown = %d, want 2", got)
	}
}

func TestSummaryLatencyAndServiceTime(t *testing.T) {
	l := New(plan(10))
	l.SetStart(time.Unix(1000, 0))
	for seq := uint64(1); seq <= 10; seq++ {
		// The generator sends 50 ms late; the store takes 20 ms after the send.
		sent := l.Intended(0, seq) + int64(50*time.Millisecond)
		l.Observe(Sent, 0, seq, sent)
		l.Observe(Store, 0, seq, sent+int64(20*time.Millisecond))
	}
	sum, err := l.Summarise(Window{Until: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sum.Stages {
		if s.Stage != "store" {
			continue
		}
		if !near(s.Latency.P50Us, 70_000) || !near(s.ServiceTime.P50Us, 20_000) {
			t.Fatalf("store latency p50 %dµs (want 70ms), service p50 %dµs (want 20ms)", s.Latency.P50Us, s.ServiceTime.P50Us)
		}
		h, err := hdrhistogram.Decode([]byte(s.LatencyHDR))
		if err != nil || h.TotalCount() != 10 {
			t.Fatalf("encoded histogram: %v, count %d", err, h.TotalCount())
		}
	}
	if !near(sum.GeneratorLag.P99Us, 50_000) {
		t.Fatalf("generator lag p99 %dµs, want 50ms", sum.GeneratorLag.P99Us)
	}
	// 10 messages over the first second: one interval holds them all.
	if got := sum.Intervals[0].Offered; got != 10 {
		t.Fatalf("interval 0 offered %d, want 10", got)
	}
	if got := sum.Intervals[0].Stages["store"].Delivered + sum.Intervals[1].Stages["store"].Delivered; got != 10 {
		t.Fatalf("store deliveries over intervals = %d, want 10", got)
	}
}

func TestSettleUsesEarliestEvidence(t *testing.T) {
	l := New(plan(2), WithTraces(2))
	l.SetStart(time.Unix(1000, 0))
	base := l.Intended(0, 1)
	l.Observe(Broker, 0, 1, base+30)
	l.Observe(Kafka, 0, 1, base+50)
	l.Observe(Store, 0, 1, base+40) // the sink beat the Kafka tap
	l.Observe(Store, 0, 2, l.Intended(0, 2)+10)
	late := l.Settle()
	if late[Kafka] != 2 || late[Broker] != 1 {
		t.Fatalf("tap late counts = %v", late)
	}
	if got := l.Traces()[0].At[Kafka]; got != base+40 {
		t.Fatalf("kafka time = %d, want the store's %d", got-base, 40)
	}
	if !l.Seen(Broker, 0, 2) || !l.Seen(Kafka, 0, 2) {
		t.Fatal("a stored message must count as having passed broker and Kafka")
	}
	if l.Delivered(Kafka) != 2 {
		t.Fatalf("kafka delivered %d, want 2", l.Delivered(Kafka))
	}
}

func near(gotUs, wantUs int64) bool {
	d := gotUs - wantUs
	return d >= -wantUs/100 && d <= wantUs/100
}

// TestCoordinatedOmission is the classic case: a sender blocked for 500 ms sends
// the messages it owed late, back to back. Measured from the send (service time)
// every message looks fast; measured from the intended time the stall shows.
func TestCoordinatedOmission(t *testing.T) {
	l := New(plan(100)) // every 100 ms for 10 s
	l.SetStart(time.Unix(1000, 0))
	stallFrom, stallTo := l.Intended(0, 50), l.Intended(0, 50)+int64(500*time.Millisecond)
	for seq := uint64(1); seq <= 100; seq++ {
		sent := l.Intended(0, seq)
		if sent >= stallFrom && sent < stallTo {
			sent = stallTo // owed messages go out when the sender is free again
		}
		l.Observe(Sent, 0, seq, sent)
		l.Observe(Store, 0, seq, sent+int64(2*time.Millisecond))
	}
	sum, err := l.Summarise(Window{Until: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sum.Stages {
		if s.Stage != "store" {
			continue
		}
		if s.Latency.P99Us < 400_000 {
			t.Fatalf("latency p99 = %dµs: the 500 ms stall was omitted", s.Latency.P99Us)
		}
		if s.ServiceTime.MaxUs > 3_000 {
			t.Fatalf("service time max = %dµs, want ≈ 2ms: it should not see the stall", s.ServiceTime.MaxUs)
		}
	}
	if sum.GeneratorLag.MaxUs < 490_000 {
		t.Fatalf("generator lag max = %dµs: a blocked sender must show as lag", sum.GeneratorLag.MaxUs)
	}
}

// TestStagesOfOneDeviceConcurrently: each stage's goroutine records every
// device while the others do (the devices' publishers, the broker and Kafka
// taps), messages leaving the in-flight window as they go; every message is
// counted once per stage and nothing is lost. Run under -race it also checks
// that a device's stages share its state safely.
func TestStagesOfOneDeviceConcurrently(t *testing.T) {
	const n = 3 * inFlightWindow
	p := plan(n)
	l := New(p)
	l.SetStart(time.Unix(1000, 0))
	var wg sync.WaitGroup
	for _, s := range []Stage{Sent, Acked, Broker, Kafka} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := uint64(1); seq <= n; seq++ {
				if s == Sent {
					l.SetIntended(0, seq, l.Intended(0, seq))
				}
				l.Observe(s, 0, seq, l.Intended(0, seq)+int64(s)*int64(time.Millisecond))
			}
		}()
	}
	wg.Wait()
	sum, err := l.Summarise(Window{Until: p.End})
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range sum.Stages {
		if st.Stage == Store.String() || st.Stage == API.String() {
			if st.Delivery.Lost != n {
				t.Errorf("%s: lost %d, want all %d (never observed)", st.Stage, st.Delivery.Lost, n)
			}
			continue
		}
		if d := st.Delivery; d.Delivered != n || d.Lost != 0 || d.Duplicated != 0 || d.Reordered != 0 || st.Latency.Count != n {
			t.Errorf("%s: %+v, latency count %d; want %d delivered, none lost, duplicated or reordered", st.Stage, d, st.Latency.Count, n)
		}
	}
}
