package ledger

import (
	"testing"
	"time"
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
