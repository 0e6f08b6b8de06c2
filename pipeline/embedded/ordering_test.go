package embedded

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/citybench/citybench/pipeline/codec"
)

// TestDeviceOrderThroughBridge publishes from many devices at once, disturbs
// the bridge mid-stream, and reads the readings topic back: within its partition
// every device's first copies must be in seq order (a repeat of an earlier seq is
// an at-least-once duplicate, never a reorder).
//
// A bridge restart is tested against Mosquitto (containers tag): mochi-mqtt
// resends a session's queued messages sorted by their second of arrival, not in
// order (MQTT-4.6.0-1), so a restart on the embedded broker reorders readings
// before they ever reach the bridge.
func TestDeviceOrderThroughBridge(t *testing.T) {
	tests := []struct {
		name string
		// fault runs on device 0's publisher at a third of the stream and
		// returns the repair, run at two thirds.
		fault func(ctx context.Context, t *testing.T, p *Pipeline) func()
	}{
		{name: "steady load"},
		{name: "Kafka outage (back-pressure)", fault: func(ctx context.Context, t *testing.T, p *Pipeline) func() {
			p.StopKafka()
			return func() {
				time.Sleep(time.Second) // the outage lasts while the other devices publish
				if err := p.StartKafka(ctx); err != nil {
					t.Errorf("restart Kafka: %v", err)
				}
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			const devices, msgs = 40, 150
			p := start(t)
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			base := time.Now().UTC().Truncate(time.Hour)
			var repair func()
			fleet{devices: devices, msgs: msgs, base: base, firstSeq: 1, interval: 10 * time.Millisecond}.publish(ctx, t, p.MQTTURL, func(seq int) {
				switch {
				case tc.fault == nil:
				case seq == msgs/3:
					repair = tc.fault(ctx, t, p)
				case seq == 2*msgs/3 && repair != nil:
					repair()
				}
			})
			waitRows(ctx, t, p, devices*msgs)
			order := checkPartitionOrder(ctx, t, p)
			t.Logf("records %d, duplicates %d, reordered %d", order.records, order.duplicates, order.reordered)
			if order.records < devices*msgs {
				t.Fatalf("%d records in Kafka, want at least %d", order.records, devices*msgs)
			}
			if order.reordered != 0 {
				t.Fatalf("%d readings reached Kafka after a later reading of their device (first: %s)",
					order.reordered, order.first)
			}
		})
	}
}

type orderCheck struct {
	records, duplicates, reordered int
	first                          string // the first reorder seen
}

// checkPartitionOrder reads every partition of the readings topic from the
// start to its end and checks each device's seqs in partition order.
func checkPartitionOrder(ctx context.Context, t *testing.T, p *Pipeline) orderCheck {
	t.Helper()
	var out orderCheck
	cd := codec.JSON()
	partitionOf := map[string]int{}
	for part := range p.cfg.partitions {
		highest, seen := map[string]uint64{}, map[string]map[uint64]bool{}
		for _, m := range readPartition(ctx, t, p, part) {
			r, err := cd.Decode("", m.Value)
			if err != nil {
				t.Fatalf("partition %d offset %d: %v", part, m.Offset, err)
			}
			if pp, ok := partitionOf[r.DeviceID]; ok && pp != part {
				t.Fatalf("device %s in partitions %d and %d", r.DeviceID, pp, part)
			}
			partitionOf[r.DeviceID] = part
			out.records++
			if seen[r.DeviceID] == nil {
				seen[r.DeviceID] = map[uint64]bool{}
			}
			switch {
			case seen[r.DeviceID][r.Seq]:
				out.duplicates++
			case r.Seq < highest[r.DeviceID]:
				out.reordered++
				if out.first == "" {
					out.first = r.DeviceID + " seq " + strconv.FormatUint(r.Seq, 10) + " after " +
						strconv.FormatUint(highest[r.DeviceID], 10)
				}
			}
			seen[r.DeviceID][r.Seq] = true
			highest[r.DeviceID] = max(highest[r.DeviceID], r.Seq)
		}
	}
	return out
}

func readPartition(ctx context.Context, t *testing.T, p *Pipeline, part int) []kafka.Message {
	t.Helper()
	conn, err := kafka.DialLeader(ctx, "tcp", p.KafkaBrokers[0], p.Topic, part)
	if err != nil {
		t.Fatalf("dial leader of partition %d: %v", part, err)
	}
	first, last, err := conn.ReadOffsets()
	conn.Close()
	if err != nil {
		t.Fatalf("offsets of partition %d: %v", part, err)
	}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: p.KafkaBrokers, Topic: p.Topic, Partition: part, MaxWait: 50 * time.Millisecond,
	})
	defer r.Close()
	if err := r.SetOffset(first); err != nil {
		t.Fatal(err)
	}
	var out []kafka.Message
	for int64(len(out)) < last-first {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("read partition %d after %d of %d: %v", part, len(out), last-first, err)
		}
		out = append(out, m)
	}
	return out
}
