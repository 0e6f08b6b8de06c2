package embedded

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/citybench/citybench/pipeline/codec"
)

// produceAt writes readings seqs from..to of device 0 straight to the readings
// topic in one batch whose records carry the timestamp at.
func produceAt(ctx context.Context, t *testing.T, p *Pipeline, from, to int, base, at time.Time) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(p.KafkaBrokers...), Topic: p.Topic, RequiredAcks: kafka.RequireAll, BatchSize: to - from + 1}
	defer w.Close()
	var msgs []kafka.Message
	for seq := from; seq <= to; seq++ {
		payload, err := codec.JSON().Encode(codec.Reading{DeviceID: deviceID(0), Seq: uint64(seq),
			SampleTimeNs: base.Add(time.Duration(seq) * time.Millisecond).UnixNano(), Model: "env-v2",
			Metrics: map[string]float64{"temperature": 20}})
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, kafka.Message{Key: []byte(deviceID(0)), Value: payload, Time: at})
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// TestRetention: Kafka drops the records older than retention.ms and the store
// the readings past their time to live, the counters say how many, a reader that
// looked before expiry found every reading delivered, and the sink carries on
// once the records below its committed offsets are gone.
func TestRetention(t *testing.T) {
	const retention = time.Hour
	const old, fresh = 50, 30
	p := start(t, WithRetention(retention), WithPartitions(1))
	ctx, cancel := context.WithTimeout(t.Context(), 45*time.Second)
	defer cancel()
	base := time.Now().UTC().Truncate(time.Hour)
	produceAt(ctx, t, p, 1, old, base, time.Now().Add(-2*retention))
	produceAt(ctx, t, p, old+1, old+fresh, base, time.Now())
	waitRows(ctx, t, p, old+fresh)
	// What the store tap does after a run: everything delivered is there.
	checkEachOnce(ctx, t, p.Store, 1, old+fresh, base)

	steps := []struct {
		name                 string
		at                   time.Duration // store clock, from now
		wantKafka, wantStore int64
		wantRows             int
	}{
		{"kafka drops the records older than retention.ms; the store keeps rows within their ttl", 0, old, 0, old + fresh},
		{"nothing more goes while nothing is older", time.Minute, old, 0, old + fresh},
		{"the store drops the rows past their ttl", retention + time.Second, old, old + fresh, 0},
	}
	for _, st := range steps {
		p.applyRetention(time.Now().Add(st.at))
		c := p.Counters()
		if c["kafka_expired"] != st.wantKafka || c["store_expired"] != st.wantStore {
			t.Errorf("%s: kafka_expired %d, store_expired %d; want %d and %d", st.name, c["kafka_expired"], c["store_expired"], st.wantKafka, st.wantStore)
		}
		if n := p.Store.Count(); n != st.wantRows {
			t.Errorf("%s: store holds %d rows, want %d", st.name, n, st.wantRows)
		}
	}
	first, err := firstOffset(ctx, p)
	if err != nil || first != old {
		t.Errorf("readings partition 0 starts at offset %d (%v), want %d", first, err, old)
	}

	// The sink's committed offsets are past the dropped records: it goes on storing.
	const later = 20
	fleet{devices: 1, msgs: later, base: base, firstSeq: old + fresh + 1}.publish(ctx, t, p.MQTTURL, nil)
	waitRows(ctx, t, p, later)
	if c := p.Counters(); c["sink_errors"] != 0 {
		t.Errorf("sink errors after retention: %v", c)
	}
}

func firstOffset(ctx context.Context, p *Pipeline) (int64, error) {
	conn, err := kafka.DialLeader(ctx, "tcp", p.KafkaBrokers[0], p.Topic, 0)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	return conn.ReadFirstOffset()
}
