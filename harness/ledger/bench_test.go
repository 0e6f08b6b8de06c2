package ledger

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/citybench/citybench/harness/schedule"
	"github.com/citybench/citybench/scenarios"
)

// BenchmarkObserve measures the cost a tap pays per sighting. Its baseline, timed
// in the same run, is the least any recorder must do — store the timestamp in a
// preallocated slot — so the reported ratio survives a noisy machine.
func BenchmarkObserve(b *testing.B) {
	const chunk = 1 << 16
	p := plan(chunk)
	slots := make([]int64, chunk)
	var baseline, observe time.Duration
	for done := 0; done < b.N; done += chunk {
		n := min(chunk, b.N-done)
		l := New(p) // a fresh ledger per chunk: every sighting is a first sighting
		l.SetStart(time.Unix(1000, 0))
		start := time.Now()
		for i := range n {
			slots[i] = int64(i)
		}
		baseline += time.Since(start)
		start = time.Now()
		for i := range n {
			l.Observe(Kafka, 0, uint64(i+1), int64(1000+i))
		}
		observe += time.Since(start)
	}
	b.ReportMetric(float64(observe)/float64(b.N), "observe-ns/op")
	b.ReportMetric(float64(observe)/float64(max(baseline, 1)), "x-baseline")
}

// fleetPlan is the plan of `devices` meters at one reading a second for d.
func fleetPlan(tb testing.TB, devices int, d time.Duration) *schedule.Plan {
	tb.Helper()
	sc, err := scenarios.Parse("memory.yaml", []byte(fmt.Sprintf(`
name: memory
seed: 1
duration: %s
fleets:
  - name: meter
    devices: %d
    model: m
    topic: city/{device}
    codec: json
    qos: 1
    sensors: [{metric: kwh, mean: 3, stddev: 1}]
    arrival: {kind: fixed, interval: 1s, jitter: 50ms}
`, d, devices)))
	if err != nil {
		tb.Fatal(err)
	}
	p, err := schedule.Build(sc)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// liveHeap is the heap still reachable after a collection.
func liveHeap() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// feed plays each device's first n messages through sent, acked, broker and
// Kafka (the store reads back only after the load, so every message stays in
// flight for it), as the devices and taps would.
func feed(l *Ledger, n int) {
	start := l.start.Load()
	for dev, d := range l.plan.Devices {
		c := d.Cursor()
		for range n {
			m, ok := c.Next()
			if !ok {
				break
			}
			at := start + int64(m.At)
			l.SetIntended(dev, m.Seq, at)
			l.Observe(Sent, dev, m.Seq, at+int64(time.Millisecond))
			l.Observe(Acked, dev, m.Seq, at+2*int64(time.Millisecond))
			l.Observe(Broker, dev, m.Seq, at+3*int64(time.Millisecond))
			l.Observe(Kafka, dev, m.Seq, at+9*int64(time.Millisecond))
		}
	}
}

// BenchmarkMemory reports what a run's plan and ledger hold, for the same
// fleet planned for 10 minutes and for 2 hours: the fixed part (the whole-run
// histograms, whatever the fleet), per device before any message (flat in run
// length: nothing is planned ahead), per message in flight (every device's
// in-flight window full, as when the store is read back only after the load),
// and per device after 40 s and after ten minutes of messages (the window is
// full by then; what still grows is the per-second series, by seconds, not by
// messages). It is a benchmark, not a test: go test -run - -bench Memory -benchtime 1x.
func BenchmarkMemory(b *testing.B) {
	const devices = 1000
	for _, length := range []time.Duration{10 * time.Minute, 2 * time.Hour} {
		b.Run(length.String(), func(b *testing.B) {
			for range b.N {
				base := liveHeap()
				one := New(fleetPlan(b, 1, length))
				fixed := liveHeap() - base
				runtime.KeepAlive(one)
				one = nil
				base = liveHeap()
				idle := func() (*Ledger, int64) {
					l := New(fleetPlan(b, devices, length))
					l.SetStart(time.Unix(1000, 0))
					return l, liveHeap() - base - fixed
				}
				b.ReportMetric(float64(fixed)/(1<<20), "MiB-fixed")
				l, empty := idle()
				runtime.KeepAlive(l)
				b.ReportMetric(float64(empty)/devices, "B/device-idle")
				feed(l, inFlightWindow)
				b.ReportMetric(float64(liveHeap()-base-fixed-empty)/(devices*inFlightWindow), "B/msg-in-flight")
				runtime.KeepAlive(l)
				for _, n := range []int{40, 600} {
					l, _ = idle()
					feed(l, n)
					b.ReportMetric(float64(liveHeap()-base-fixed)/devices, fmt.Sprintf("B/device-after-%ds", n))
					runtime.KeepAlive(l)
				}
			}
		})
	}
}
