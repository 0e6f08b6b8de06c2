package ledger

import (
	"testing"
	"time"
)

// BenchmarkRecordMessage is what recording costs per message while a run
// goes: the intended time and four stages' sightings, and the share of
// settling (summarising after the run is not in it).
func BenchmarkRecordMessage(b *testing.B) {
	const chunk = 1 << 15
	p := plan(chunk)
	times := make([]int64, chunk)
	for i, m := range messagesOf(p.Devices[0]) {
		times[i] = 1000e9 + int64(m.At)
	}
	b.ResetTimer()
	for done := 0; done < b.N; done += chunk {
		n := min(chunk, b.N-done)
		l := New(p)
		l.SetStart(time.Unix(1000, 0))
		for i := range n {
			seq, at := uint64(i+1), times[i]
			l.SetIntended(0, seq, at)
			l.Observe(Sent, 0, seq, at+1e6)
			l.Observe(Acked, 0, seq, at+2e6)
			l.Observe(Broker, 0, seq, at+3e6)
			l.Observe(Kafka, 0, seq, at+9e6)
		}
		l.Settle()
	}
}
