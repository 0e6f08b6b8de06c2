package bridge_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/citybench/citybench/pipeline/bridge"
	"github.com/citybench/citybench/pipeline/codec"
	"github.com/citybench/citybench/pipeline/embedded"
)

// TestBackpressureDrainAndRedelivery runs a bridge with a tiny in-flight bound
// against the embedded broker and Kafka. While Kafka is down the bridge must
// hold exactly its bound and acknowledge nothing; stopped, it must return within
// its drain timeout; and a new instance with the same client id must receive the
// unacknowledged messages from the broker's persistent session and deliver them.
func TestBackpressureDrainAndRedelivery(t *testing.T) {
	const maxInflight, msgs = 8, 200
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Second)
	defer cancel()
	var opts []embedded.Option
	if os.Getenv("CITYBENCH_TEST_LOG") != "" {
		opts = append(opts, embedded.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	}
	p, err := embedded.Start(ctx, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cctx, c := context.WithTimeout(context.Background(), 20*time.Second)
		defer c()
		if err := p.Close(cctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})

	newBridge := func() *bridge.Bridge {
		b, err := bridge.New(
			bridge.WithMQTT(p.MQTTURL),
			bridge.WithClientID("bp-test"),
			bridge.WithShareGroup("bp"),
			bridge.WithFilter("bp/#"),
			bridge.WithKafka(p.KafkaBrokers...),
			bridge.WithTopic(p.Topic),
			bridge.WithDeadLetterTopic(p.DeadLetterTopic),
			bridge.WithCodec(codec.JSON()),
			bridge.WithMaxInflight(maxInflight),
			bridge.WithWorkers(2),
			bridge.WithDrainTimeout(300*time.Millisecond),
			bridge.WithLogger(slog.New(slog.DiscardHandler)),
		)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	run := func(b *bridge.Bridge) (context.CancelFunc, chan error) {
		rctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- b.Run(rctx) }()
		for !b.Ready() {
			select {
			case err := <-done:
				t.Fatalf("bridge stopped before ready: %v", err)
			case <-ctx.Done():
				t.Fatal("bridge never ready")
			case <-time.After(10 * time.Millisecond):
			}
		}
		return stop, done
	}

	t0 := time.Now()
	first := newBridge()
	stopFirst, firstDone := run(first)
	p.StopKafka()

	pub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(p.MQTTURL).SetClientID("bp-publisher"))
	if tok := pub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer pub.Disconnect(100)
	for i := 1; i <= msgs; i++ {
		payload, err := codec.JSON().Encode(codec.Reading{DeviceID: "bp-dev", Seq: uint64(i),
			SampleTimeNs: time.Now().UnixNano(), Metrics: map[string]float64{"t": 1}})
		if err != nil {
			t.Fatal(err)
		}
		if tok := pub.Publish(fmt.Sprintf("bp/dev/%d", i%4), 1, false, payload); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
	}

	// The bound must be reached (the bridge is saturated) and never exceeded.
	var peak int64
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		peak = max(peak, first.Stats().Inflight)
		time.Sleep(2 * time.Millisecond)
	}
	if peak != maxInflight {
		t.Fatalf("in-flight peaked at %d with Kafka down, want exactly the bound %d", peak, maxInflight)
	}
	if got := first.Stats().Produced; got != 0 {
		t.Fatalf("%d messages produced while Kafka was down", got)
	}

	stopped := time.Now()
	stopFirst()
	select {
	case err := <-firstDone:
		if err != nil {
			t.Fatalf("Run after cancel: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("bridge did not stop within its drain timeout")
	}
	if took := time.Since(stopped); took > 3*time.Second {
		t.Errorf("stopping took %s with a 300ms drain timeout", took)
	}

	t.Logf("first stopped at %s", time.Since(t0))
	if err := p.StartKafka(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("kafka restarted at %s", time.Since(t0))

	second := newBridge()
	stopSecond, secondDone := run(second)
	defer func() { stopSecond(); <-secondDone }()
	t.Logf("second ready at %s", time.Since(t0))
	defer func() { t.Logf("second produced all at %s", time.Since(t0)) }()
	for second.Stats().Produced < msgs {
		select {
		case <-ctx.Done():
			t.Fatalf("second instance produced %d of %d unacknowledged messages (stats %+v)",
				second.Stats().Produced, msgs, second.Stats())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
