package sink_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/citybench/citybench/pipeline/bridge"
	"github.com/citybench/citybench/pipeline/codec"
	"github.com/citybench/citybench/pipeline/sink"
	"github.com/citybench/citybench/pipeline/store/memory"
)

const (
	topic      = "readings"
	dlq        = "readings.dlq"
	group      = "sink-test"
	partitions = 3
)

type env struct {
	brokers []string
	st      *memory.Store
	s       *sink.Sink
	w       *kafka.Writer
	stop    func()
}

func setup(t *testing.T, extra ...sink.Option) *env {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topic), kfake.SeedTopics(1, dlq),
		kfake.GroupMinSessionTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	e := &env{brokers: c.ListenAddrs(), st: memory.New()}
	opts := []sink.Option{sink.WithKafka(e.brokers...), sink.WithTopic(topic), sink.WithDeadLetterTopic(dlq),
		sink.WithGroup(group), sink.WithCodec(codec.JSON()), sink.WithSessionTimeout(6 * time.Second),
		sink.WithLogger(slog.New(slog.DiscardHandler))}
	e.s, err = sink.New(e.st, append(opts, extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	e.w = &kafka.Writer{Addr: kafka.TCP(e.brokers...), Topic: topic, Balancer: &kafka.Hash{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	t.Cleanup(func() { e.w.Close() })

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.s.Run(ctx) }()
	e.stop = func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("sink did not stop")
		}
	}
	t.Cleanup(e.stop)
	for !e.s.Ready() {
		select {
		case err := <-done:
			t.Fatalf("sink stopped: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	return e
}

func (e *env) produce(t *testing.T, msgs ...kafka.Message) {
	t.Helper()
	if err := e.w.WriteMessages(t.Context(), msgs...); err != nil {
		t.Fatal(err)
	}
}

func reading(t *testing.T, dev string, seq int, at time.Time) kafka.Message {
	t.Helper()
	b, err := codec.JSON().Encode(codec.Reading{DeviceID: dev, Seq: uint64(seq), SampleTimeNs: at.UnixNano(),
		Model: "env-v2", Metrics: map[string]float64{"t": float64(seq)}})
	if err != nil {
		t.Fatal(err)
	}
	return kafka.Message{Key: []byte(dev), Value: b, Headers: []kafka.Header{
		{Key: bridge.HeaderSourceTopic, Value: []byte("/10115/" + dev + "/3/n1/environment")},
		{Key: bridge.HeaderLocation, Value: []byte("zip=10115&building=" + dev)},
	}}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func committed(t *testing.T, brokers []string) int64 {
	t.Helper()
	cl := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 5 * time.Second}
	resp, err := cl.OffsetFetch(t.Context(), &kafka.OffsetFetchRequest{GroupID: group,
		Topics: map[string][]int{topic: {0, 1, 2}}})
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, p := range resp.Topics[topic] {
		if p.CommittedOffset > 0 {
			sum += p.CommittedOffset
		}
	}
	return sum
}

func readDLQ(t *testing.T, brokers []string, n int) []kafka.Message {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: dlq, Partition: 0, MaxWait: 50 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var out []kafka.Message
	for len(out) < n {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("read dead letters after %d of %d: %v", len(out), n, err)
		}
		out = append(out, m)
	}
	return out
}

func hdr(m kafka.Message, k string) string {
	for _, h := range m.Headers {
		if h.Key == k {
			return string(h.Value)
		}
	}
	return ""
}

func TestSinkStoresDeadLettersAndCommits(t *testing.T) {
	e := setup(t)
	base := time.Now().UTC().Truncate(time.Second)
	var msgs []kafka.Message
	for d := range 3 {
		for s := 1; s <= 10; s++ {
			msgs = append(msgs, reading(t, fmt.Sprintf("b%d", d), s, base.Add(time.Duration(s)*time.Second)))
		}
	}
	bad := []struct {
		value  string
		reason string
	}{
		{"not json", "malformed"},
		{`{"device_id":"b9","sample_time_ns":1700000000000000000,"metrics":{}}`, "missing_field"},
	}
	for _, b := range bad {
		msgs = append(msgs, kafka.Message{Key: []byte("x"), Value: []byte(b.value)})
	}
	e.produce(t, msgs...)

	waitFor(t, "30 rows", func() bool { return e.st.Count() == 30 })
	waitFor(t, "all offsets committed", func() bool { return committed(t, e.brokers) == int64(len(msgs)) })
	letters := readDLQ(t, e.brokers, len(bad))
	// Same key, same partition: the letters keep the order of the records.
	for i, m := range letters {
		if string(m.Value) != bad[i].value || hdr(m, bridge.HeaderReason) != bad[i].reason {
			t.Errorf("dead letter %d: %q reason %q, want %q reason %q", i, m.Value, hdr(m, bridge.HeaderReason), bad[i].value, bad[i].reason)
		}
		if hdr(m, bridge.HeaderStage) != "sink" || hdr(m, sink.HeaderSourceOffset) == "" {
			t.Errorf("dead letter %d lacks stage or offset headers: %v", i, m.Headers)
		}
	}

	devs, err := e.st.Devices(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) != 3 {
		t.Fatalf("%d devices, want 3: %+v", len(devs), devs)
	}
	for _, d := range devs {
		if d.Location["zip"] != "10115" || d.Location["building"] != d.ID || d.Model != "env-v2" {
			t.Errorf("device %+v: location or model not taken from the record", d)
		}
		if want := base.Add(10 * time.Second); !d.LastSeen.Equal(want) {
			t.Errorf("device %s last seen %s, want the newest sample %s", d.ID, d.LastSeen, want)
		}
	}
	st := e.s.Stats()
	if st.Written != 30 || st.DeadLettered != int64(len(bad)) {
		t.Errorf("stats %+v, want 30 written and %d dead-lettered", st, len(bad))
	}
}

// TestSinkCommitsOnlyAfterStoreWrite stalls the store: records are consumed but
// their offsets must not be committed until the rows are stored.
func TestSinkCommitsOnlyAfterStoreWrite(t *testing.T) {
	e := setup(t)
	base := time.Now().UTC().Truncate(time.Second)
	e.produce(t, reading(t, "a", 1, base))
	waitFor(t, "first commit", func() bool { return committed(t, e.brokers) == 1 })

	e.st.Stall(1500 * time.Millisecond)
	e.produce(t, reading(t, "a", 2, base.Add(time.Second)), reading(t, "b", 1, base))
	waitFor(t, "records consumed", func() bool { return e.s.Stats().Consumed == 3 })
	if got := committed(t, e.brokers); got != 1 {
		t.Fatalf("committed %d offsets while the store was stalled, want 1", got)
	}
	if e.st.Count() != 1 {
		t.Fatalf("%d rows while stalled, want 1", e.st.Count())
	}
	waitFor(t, "rows after the stall", func() bool { return e.st.Count() == 3 })
	waitFor(t, "commit after the stall", func() bool { return committed(t, e.brokers) == 3 })
}

// TestSinkMaxWriteRate: with a cap, the store sees no more rows per second than
// allowed (beyond the first batch's burst), and the wait is counted.
func TestSinkMaxWriteRate(t *testing.T) {
	const capRate, batch, rows = 500, 50, 1000
	e := setup(t, sink.WithMaxWriteRate(capRate), sink.WithBatch(batch, 2*time.Millisecond))
	base := time.Now().UTC().Truncate(time.Second)
	var msgs []kafka.Message
	for s := 1; s <= rows; s++ {
		msgs = append(msgs, reading(t, fmt.Sprintf("r%d", s%7), s, base.Add(time.Duration(s)*time.Millisecond)))
	}
	start := time.Now()
	e.produce(t, msgs...)
	waitFor(t, "every row", func() bool { return e.st.Count() == rows })
	elapsed := time.Since(start)
	// The limiter admits one batch at once, then capRate rows/s.
	if least := time.Duration(float64(rows-batch) / capRate * float64(time.Second)); elapsed < least*95/100 {
		t.Errorf("%d rows stored in %s, faster than the cap of %d rows/s allows (%s)", rows, elapsed, capRate, least)
	}
	if e.s.Stats().Throttled <= 0 {
		t.Error("no throttled time counted")
	}
}

func TestSinkRejectsNegativeWriteRate(t *testing.T) {
	if _, err := sink.New(memory.New(), sink.WithKafka("127.0.0.1:1"), sink.WithCodec(codec.JSON()), sink.WithMaxWriteRate(-1)); err == nil {
		t.Error("a negative write rate was accepted")
	}
}
