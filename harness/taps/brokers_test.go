package taps_test

import (
	"context"
	"testing"
	"time"

	"github.com/citybench/citybench/harness/ledger"
	"github.com/citybench/citybench/harness/taps"
	"github.com/citybench/citybench/pipeline/codec"
)

// TestBrokersTapCoversEveryBroker: a tier of two brokers, each device on its
// domain's. The one broker-stage tap sees every device's message on the broker
// it went to, and reports the two brokers as one stage.
func TestBrokersTapCoversEveryBroker(t *testing.T) {
	p := plan(t, 4, 100*time.Millisecond, 10*time.Second)
	a, addrA := startMochi(t, "127.0.0.1:0")
	defer a.Close()
	b, addrB := startMochi(t, "127.0.0.1:0")
	defer b.Close()
	led := ledger.New(p)
	start := time.Now()
	led.SetStart(start)
	domain := func(dev int) int { return dev % 2 }
	brokers := []interface {
		Publish(topic string, payload []byte, retain bool, qos byte) error
	}{a, b}
	tap := taps.NewBrokers([]taps.BrokerConfig{{URL: "tcp://" + addrA, QoS: 1}, {URL: "tcp://" + addrB, QoS: 1}}, domain)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := tap.Start(ctx, taps.Env{Plan: p, Rec: led}); err != nil {
		t.Fatal(err)
	}
	for _, d := range p.Devices {
		m := d.Messages[0]
		payload, err := codec.JSON().Encode(codec.Reading{DeviceID: d.ID, Seq: 1, SampleTimeNs: start.Add(m.At).UnixNano(), Metrics: map[string]float64{"temperature": 1}})
		if err != nil {
			t.Fatal(err)
		}
		if err := brokers[domain(d.Index)].Publish(m.Topic, payload, false, 1); err != nil {
			t.Fatal(err)
		}
	}
	waitDelivered(t, led, ledger.Broker, int64(len(p.Devices)))

	rep := tap.Stop(ctx, 10*time.Second)
	if rep.Stage != ledger.Broker || len(rep.Outages) != 0 || rep.Unverified != nil {
		t.Errorf("report %+v: want the broker stage, no outage, nothing unverified", rep)
	}
	for _, d := range p.Devices {
		if !led.Seen(ledger.Broker, d.Index, 1) {
			t.Errorf("device %s on broker %d: not seen", d.ID, domain(d.Index)+1)
		}
	}
}
