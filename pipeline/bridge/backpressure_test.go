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

// TestBackpressureDrainAndRedelivery runs a bridge with a short keep-alive
// against the embedded broker and Kafka. While Kafka is down for several
// keep-alive intervals the bridge must take every message, acknowledge none and
// keep its MQTT connection (its handler never blocks the client's keep-alives);
// stopped, it must return within its drain timeout; and a new instance with the
// same client id must receive the unacknowledged messages from the broker's
// persistent session and deliver them.
func TestBackpressureDrainAndRedelivery(t *testing.T) {
	const keepAlive, msgs = 2 * time.Second, 200
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
			bridge.WithKeepAlive(keepAlive),
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

	// Every message reaches the bridge (the broker's window is wider than 200)
	// and stays unacknowledged while Kafka is down.
	for first.Stats().Inflight < msgs {
		select {
		case <-ctx.Done():
			t.Fatalf("in-flight %d with Kafka down, want all %d", first.Stats().Inflight, msgs)
		case <-time.After(5 * time.Millisecond):
		}
	}
	// Back-pressure for three keep-alive intervals: a handler that waited for
	// Kafka would stall paho's reads, PINGRESP would go unread and the client
	// would drop the connection.
	time.Sleep(3 * keepAlive)
	if s := first.Stats(); s.ConnectionsLost != 0 || s.Produced != 0 || s.Inflight != msgs {
		t.Fatalf("after %s of Kafka outage: %+v, want no connection lost, nothing produced, %d in flight",
			3*keepAlive, s, msgs)
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
