package embedded

import (
	"context"
	"testing"
	"time"
)

// BenchmarkEndToEnd measures embedded throughput from QoS 1 publish to stored
// row: 50 devices publish b.N readings between them, and the clock stops when
// the last row is in the store. Run with -benchtime=20000x or more; the figure is
// for the embedded assembly on this machine, not production capacity.
func BenchmarkEndToEnd(b *testing.B) {
	const devices = 50
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	p, err := Start(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close(context.Background())
	per := max(b.N/devices, 1)
	base := time.Now().UTC().Truncate(time.Hour)
	b.ResetTimer()
	start := time.Now()
	fleet{devices: devices, msgs: per, base: base, firstSeq: 1}.publish(ctx, b, p.MQTTURL, nil)
	waitRows(ctx, b, p, devices*per)
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(devices*per)/elapsed.Seconds(), "rows/s")
	if d := p.InflightDropped(); d != 0 {
		b.Fatalf("broker dropped %d messages", d)
	}
}
