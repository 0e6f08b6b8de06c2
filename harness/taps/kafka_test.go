package taps_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/citybench/citybench/harness/ledger"
	"github.com/citybench/citybench/harness/schedule"
	"github.com/citybench/citybench/harness/taps"
	"github.com/citybench/citybench/pipeline/codec"
)

// produce writes device messages [from, to) of every device, keyed by device id as the bridge does.
func produce(t *testing.T, w *kafka.Writer, p *schedule.Plan, start time.Time, from, to int) {
	t.Helper()
	var msgs []kafka.Message
	for _, d := range p.Devices {
		for _, m := range d.Messages()[from:to] {
			b, err := codec.JSON().Encode(codec.Reading{DeviceID: d.ID, Seq: m.Seq, SampleTimeNs: start.Add(m.At).UnixNano(), Metrics: map[string]float64{"temperature": 1}})
			if err != nil {
				t.Fatal(err)
			}
			msgs = append(msgs, kafka.Message{Key: []byte(d.ID), Value: b})
		}
	}
	if err := w.WriteMessages(t.Context(), msgs...); err != nil {
		t.Fatal(err)
	}
}

// TestKafkaTapSurvivesBlackout: every broker drops every connection and refuses
// new ones for 5 s — longer than kafka-go's own dial retries, so each partition
// reader gives up with an error. The tap must report that as its outage, dial
// again, and still see every record, none of them counted as lost.
func TestKafkaTapSurvivesBlackout(t *testing.T) {
	const topic = "readings"
	c, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.SeedTopics(3, topic))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w := &kafka.Writer{Addr: kafka.TCP(c.ListenAddrs()...), Topic: topic, Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	defer w.Close()

	p := plan(t, 6, 100*time.Millisecond, 3*time.Second) // 30 messages per device
	start := time.Now()
	led := ledger.New(p)
	led.SetStart(start)
	tap := taps.NewKafka(taps.KafkaConfig{Brokers: c.ListenAddrs(), Topic: topic})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := tap.Start(ctx, taps.Env{Plan: p, Rec: led}); err != nil {
		t.Fatal(err)
	}
	produce(t, w, p, start, 0, 10)
	for _, d := range p.Devices { // what the devices sent, for the drain
		for m := range d.All() {
			led.Observe(ledger.Sent, d.Index, m.Seq, start.Add(m.At).UnixNano())
		}
	}
	waitDelivered(t, led, ledger.Kafka, int64(10*len(p.Devices)))

	var blackout atomic.Bool
	blackout.Store(true)
	c.Control(func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if blackout.Load() {
			return nil, errors.New("broker down"), true // closes the connection
		}
		return nil, nil, false
	})
	time.AfterFunc(5*time.Second, func() { blackout.Store(false) })
	// Written while the tap is cut off (the writer retries through the blackout).
	produce(t, w, p, start, 10, 30)

	rep := tap.Stop(ctx, p.End)
	if got, want := led.Delivered(ledger.Kafka), int64(p.Count()); got != want {
		t.Fatalf("kafka tap saw %d of %d records after the blackout (report %+v)", got, want, rep)
	}
	if len(rep.Outages) == 0 {
		t.Fatalf("no tap outage reported for a 5 s blackout: %+v", rep)
	}
	for _, o := range rep.Outages {
		if o.Open || o.Tap != "kafka" || o.ToS <= o.FromS {
			t.Errorf("outage %+v: want a closed kafka span", o)
		}
	}
	if rep.Unverified != nil {
		t.Errorf("unverified set although the tap recovered")
	}
}

func waitDelivered(t *testing.T, led *ledger.Ledger, s ledger.Stage, n int64) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(30 * time.Second)
	for led.Delivered(s) < n {
		select {
		case <-deadline:
			t.Fatalf("%s delivered %d, want %d", s, led.Delivered(s), n)
		case <-tick.C:
		}
	}
}
