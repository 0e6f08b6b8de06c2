//go:build containers

package testcontainers

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/segmentio/kafka-go"

	"github.com/citybench/citybench/pipeline/bridge"
	"github.com/citybench/citybench/pipeline/codec"
	"github.com/citybench/citybench/scenarios"
)

// TestBridgeOrderAcrossRestart checks the bridge's ordering contract where the
// embedded broker cannot (mochi resends queued messages out of order): devices
// publish to Mosquitto while the bridge is stopped and a new instance with the
// same session takes over; in Kafka every device's first copies must still be
// in seq order, and every reading must be there.
func TestBridgeOrderAcrossRestart(t *testing.T) {
	const devices, msgs, partitions, topic = 20, 300, 6, "order.readings"
	tg := NewTarget(scenarios.Target{Kind: "containers"}, WithoutServices(), WithLogger(testLogger(t)), withTestLabel())
	ep := startTarget(t, tg)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	waitTopic(ctx, t, ep, topic, partitions)
	newBridge := func() (*bridge.Bridge, func()) {
		b, err := bridge.New(bridge.WithMQTT(ep.MQTTURLs[0]), bridge.WithClientID("order-bridge"),
			bridge.WithFilter("order/#"), bridge.WithKafka(ep.KafkaBrokers...), bridge.WithTopic(topic),
			bridge.WithCodec(codec.JSON()), bridge.WithLogger(benchQuiet))
		if err != nil {
			t.Fatal(err)
		}
		rctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- b.Run(rctx) }()
		for !b.Ready() {
			select {
			case err := <-done:
				t.Fatalf("bridge stopped before ready: %v", err)
			case <-time.After(10 * time.Millisecond):
			}
		}
		return b, func() {
			stop()
			if err := <-done; err != nil {
				t.Errorf("bridge: %v", err)
			}
		}
	}

	first, stopFirst := newBridge()
	var wg sync.WaitGroup
	for d := range devices {
		wg.Add(1)
		go func() {
			defer wg.Done()
			publishPaced(ctx, t, ep.MQTTURLs[0], fmt.Sprintf("order-%02d", d), msgs, 5*time.Millisecond)
		}()
	}
	// Mid-stream: a graceful stop, the devices publishing into the session meanwhile.
	for first.Stats().Produced < devices*msgs/3 {
		select {
		case <-ctx.Done():
			t.Fatalf("first bridge produced %d", first.Stats().Produced)
		case <-time.After(5 * time.Millisecond):
		}
	}
	stopFirst()
	time.Sleep(300 * time.Millisecond) // the outage, while devices keep publishing
	second, stopSecond := newBridge()
	defer stopSecond()
	wg.Wait()
	for first.Stats().Produced+second.Stats().Produced < devices*msgs {
		select {
		case <-ctx.Done():
			t.Fatalf("produced %d + %d of %d", first.Stats().Produced, second.Stats().Produced, devices*msgs)
		case <-time.After(10 * time.Millisecond):
		}
	}

	seen, dups, reordered := map[string]map[uint64]bool{}, 0, 0
	for part := range partitions {
		highest := map[string]uint64{}
		for _, m := range readAll(ctx, t, ep.KafkaBrokers, topic, part) {
			r, err := codec.JSON().Decode("", m.Value)
			if err != nil {
				t.Fatal(err)
			}
			if seen[r.DeviceID] == nil {
				seen[r.DeviceID] = map[uint64]bool{}
			}
			switch {
			case seen[r.DeviceID][r.Seq]:
				dups++
			case r.Seq < highest[r.DeviceID]:
				reordered++
			}
			seen[r.DeviceID][r.Seq] = true
			highest[r.DeviceID] = max(highest[r.DeviceID], r.Seq)
		}
	}
	t.Logf("first bridge %+v, second %+v; duplicates %d, reordered %d", first.Stats(), second.Stats(), dups, reordered)
	for d := range devices {
		if got := len(seen[fmt.Sprintf("order-%02d", d)]); got != msgs {
			t.Errorf("device order-%02d: %d distinct readings in Kafka, want %d", d, got, msgs)
		}
	}
	if reordered != 0 {
		t.Errorf("%d readings reached Kafka after a later reading of their device", reordered)
	}
}

// publishPaced publishes msgs QoS 1 readings of one device, one per interval.
func publishPaced(ctx context.Context, t *testing.T, url, device string, msgs int, interval time.Duration) {
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID("pub-" + device).SetAutoReconnect(false))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Errorf("connect %s: %v", device, tok.Error())
		return
	}
	defer c.Disconnect(100)
	var last mqtt.Token
	for seq := 1; seq <= msgs && ctx.Err() == nil; seq++ {
		p, err := codec.JSON().Encode(codec.Reading{DeviceID: device, Seq: uint64(seq),
			SampleTimeNs: time.Now().UnixNano(), Metrics: map[string]float64{"t": float64(seq)}})
		if err != nil {
			t.Error(err)
			return
		}
		last = c.Publish("order/"+device, 1, false, p)
		time.Sleep(interval) // the device's rate
	}
	if last != nil && (!last.WaitTimeout(30*time.Second) || last.Error() != nil) {
		t.Errorf("publish %s: %v", device, last.Error())
	}
}

// readAll reads one partition from its first to its last offset.
func readAll(ctx context.Context, t testing.TB, brokers []string, topic string, part int) []kafka.Message {
	conn, err := kafka.DialLeader(ctx, "tcp", brokers[0], topic, part)
	if err != nil {
		t.Fatal(err)
	}
	first, last, err := conn.ReadOffsets()
	conn.Close()
	if err != nil {
		t.Fatal(err)
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: part, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	if err := r.SetOffset(first); err != nil {
		t.Fatal(err)
	}
	out := make([]kafka.Message, 0, last-first)
	for range last - first {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}
