package embedded

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// TestBridgeAtLeastOnceAcrossKafkaOutage takes the whole Kafka cluster down while
// devices publish and brings it back: every reading must still be stored once.
func TestBridgeAtLeastOnceAcrossKafkaOutage(t *testing.T) {
	const devices, msgs = 20, 100
	p := start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Second)
	defer cancel()

	base := time.Now().UTC().Truncate(time.Hour)
	var stopped atomic.Bool
	fleet{devices: devices, msgs: msgs, base: base, firstSeq: 1}.publish(ctx, t, p.MQTTURL, func(seq int) {
		if seq == msgs/3 {
			// Mid-stream: some readings already made it all the way through.
			for p.Store.Count() < devices*msgs/10 && ctx.Err() == nil {
				time.Sleep(5 * time.Millisecond)
			}
			p.StopKafka()
			stopped.Store(true)
		}
	})
	if !stopped.Load() {
		t.Fatal("Kafka was never stopped")
	}
	// Let the bridge hit the outage for a while: its writes fail and the
	// messages stay unacknowledged at the broker.
	time.Sleep(time.Second)
	rowsDuringOutage := p.Store.Count()
	bridgeErrs := p.Counters()["bridge_errors"]
	if rowsDuringOutage == 0 || rowsDuringOutage >= devices*msgs {
		t.Fatalf("%d rows stored when Kafka was down, want some but not all", rowsDuringOutage)
	}
	if err := p.StartKafka(ctx); err != nil {
		t.Fatalf("restart Kafka: %v", err)
	}
	waitRows(ctx, t, p, devices*msgs)
	checkEachOnce(ctx, t, p.Store, devices, msgs, base)
	c := p.Counters()
	t.Logf("rows during outage %d; bridge errors at outage %d; counters after: %v", rowsDuringOutage, bridgeErrs, c)
	if c["bridge_errors"] == 0 {
		t.Fatal("the bridge saw no Kafka error: it was not exercised by the outage")
	}
	if d := p.InflightDropped(); d != 0 {
		t.Fatalf("broker dropped %d in-flight messages", d)
	}
}

// TestSinkReplayIsIdempotent stops the sinks, rewinds the group to the start of
// every partition and starts them again: they re-write every record and the
// store's row count must not move.
func TestSinkReplayIsIdempotent(t *testing.T) {
	const devices, msgs = 20, 50
	p := start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 40*time.Second)
	defer cancel()

	base := time.Now().UTC().Truncate(time.Hour)
	fleet{devices: devices, msgs: msgs, base: base, firstSeq: 1}.publish(ctx, t, p.MQTTURL, nil)
	waitRows(ctx, t, p, devices*msgs)
	writtenBefore := p.Counters()["sink_written"]

	if err := p.StopSinks(ctx); err != nil {
		t.Fatalf("stop sinks: %v", err)
	}
	resetGroup(ctx, t, p)
	if err := p.StartSinks(ctx); err != nil {
		t.Fatalf("start sinks: %v", err)
	}
	// The replay is observable only through the sink's counters: wait until it
	// has written everything a second time.
	for p.Counters()["sink_written"] < writtenBefore+devices*msgs {
		select {
		case <-ctx.Done():
			t.Fatalf("replay wrote %d rows, want %d", p.Counters()["sink_written"]-writtenBefore, devices*msgs)
		case <-time.After(20 * time.Millisecond):
		}
	}
	if got := p.Store.Count(); got != devices*msgs {
		t.Fatalf("after replay the store holds %d rows, want %d", got, devices*msgs)
	}
	checkEachOnce(ctx, t, p.Store, devices, msgs, base)
}

// resetGroup commits offset 0 for every partition of the readings topic on behalf
// of the (empty) sink group, as kafka-consumer-groups --reset-offsets would.
func resetGroup(ctx context.Context, t *testing.T, p *Pipeline) {
	t.Helper()
	cl := &kafka.Client{Addr: kafka.TCP(p.KafkaBrokers...), Timeout: 10 * time.Second}
	offsets := make([]kafka.OffsetCommit, DefaultPartitions)
	for i := range offsets {
		offsets[i] = kafka.OffsetCommit{Partition: i, Offset: 0}
	}
	resp, err := cl.OffsetCommit(ctx, &kafka.OffsetCommitRequest{
		GroupID:      p.SinkGroup,
		GenerationID: -1, // no generation: allowed only while the group has no members
		Topics:       map[string][]kafka.OffsetCommit{p.Topic: offsets},
	})
	if err != nil {
		t.Fatalf("reset offsets: %v", err)
	}
	for _, parts := range resp.Topics {
		for _, pr := range parts {
			if pr.Error != nil {
				t.Fatalf("reset offset of partition %d: %v", pr.Partition, pr.Error)
			}
		}
	}
	fetched, err := cl.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: p.SinkGroup,
		Topics: map[string][]int{p.Topic: {0, 1, 2, 3, 4, 5}}})
	if err != nil {
		t.Fatalf("fetch offsets: %v", err)
	}
	for _, pr := range fetched.Topics[p.Topic] {
		if pr.CommittedOffset != 0 {
			t.Fatalf("partition %d committed offset %d after reset, want 0", pr.Partition, pr.CommittedOffset)
		}
	}
}

// TestMessagesWaitForStoppedBridges stops every bridge, publishes, and starts
// them again: the broker must have kept the messages in the bridges' persistent
// sessions, so every reading is stored.
func TestMessagesWaitForStoppedBridges(t *testing.T) {
	const devices, msgs = 10, 50
	p := start(t, WithBridges(2))
	ctx, cancel := context.WithTimeout(t.Context(), 40*time.Second)
	defer cancel()
	if err := p.StopBridges(ctx); err != nil {
		t.Fatalf("stop bridges: %v", err)
	}
	base := time.Now().UTC().Truncate(time.Hour)
	fleet{devices: devices, msgs: msgs, base: base, firstSeq: 1}.publish(ctx, t, p.MQTTURL, nil)
	time.Sleep(200 * time.Millisecond)
	if n := p.Store.Count(); n != 0 {
		t.Fatalf("%d rows stored with no bridge running", n)
	}
	if err := p.StartBridges(ctx); err != nil {
		t.Fatalf("start bridges: %v", err)
	}
	waitRows(ctx, t, p, devices*msgs)
	checkEachOnce(ctx, t, p.Store, devices, msgs, base)
	if d := p.InflightDropped(); d != 0 {
		t.Fatalf("broker dropped %d in-flight messages", d)
	}
}
