package taps_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"

	"github.com/citybench/citybench/harness/ledger"
	"github.com/citybench/citybench/harness/taps"
	"github.com/citybench/citybench/pipeline/codec"
)

// startMochi serves MQTT on addr ("127.0.0.1:0" for any port) and returns the
// broker and the address it listens on.
func startMochi(t *testing.T, addr string) (*mochi.Server, string) {
	t.Helper()
	b := mochi.New(&mochi.Options{InlineClient: true, Logger: slog.New(slog.DiscardHandler)})
	if err := b.AddHook(new(auth.AllowHook), nil); err != nil {
		t.Fatal(err)
	}
	ln := listeners.NewTCP(listeners.Config{ID: "tcp", Address: addr})
	if err := b.AddListener(ln); err != nil {
		t.Fatal(err)
	}
	if err := b.Serve(); err != nil {
		t.Fatal(err)
	}
	return b, ln.Address()
}

// TestBrokerTapSurvivesBrokerRestart: the broker goes away and comes back on the
// same address. The tap names the outage, subscribes again by itself and sees
// what is published afterwards; what was intended during the outage is
// unverified, not lost.
func TestBrokerTapSurvivesBrokerRestart(t *testing.T) {
	p := plan(t, 1, 10*time.Millisecond, 60*time.Second) // enough messages to publish until the tap is back
	b, addr := startMochi(t, "127.0.0.1:0")
	led := ledger.New(p)
	start := time.Now()
	led.SetStart(start)
	d := p.Devices[0]
	publish := func(b *mochi.Server, seq uint64) {
		t.Helper()
		m := d.Messages()[seq-1]
		payload, err := codec.JSON().Encode(codec.Reading{DeviceID: d.ID, Seq: seq, SampleTimeNs: start.Add(m.At).UnixNano(), Metrics: map[string]float64{"temperature": 1}})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Publish(m.Topic, payload, false, 1); err != nil {
			t.Fatal(err)
		}
	}
	tap := taps.NewBroker(taps.BrokerConfig{URL: "tcp://" + addr, QoS: 1})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := tap.Start(ctx, taps.Env{Plan: p, Rec: led}); err != nil {
		t.Fatal(err)
	}
	publish(b, 1)
	waitDelivered(t, led, ledger.Broker, 1)

	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b2, _ := startMochi(t, addr)
	defer b2.Close()
	// Publish until the re-subscribed tap sees one: the broker drops messages
	// nobody subscribes to, as a real one does for a clean-session subscriber.
	seq := uint64(2)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for led.Delivered(ledger.Broker) < 2 && seq < uint64(d.Count()) {
		publish(b2, seq)
		seq++
		select {
		case <-ctx.Done():
			t.Fatal("the tap never saw the restarted broker's messages")
		case <-tick.C:
		}
	}
	rep := tap.Stop(ctx, p.End)
	if len(rep.Outages) != 1 || rep.Outages[0].Open || rep.Outages[0].Tap != "broker" {
		t.Fatalf("outages %+v: want one healed broker outage", rep.Outages)
	}
	o := rep.Outages[0]
	if rep.Unverified == nil || !rep.Unverified(0, time.Duration(o.FromS*float64(time.Second))) || rep.Unverified(0, time.Duration((o.ToS+5)*float64(time.Second))) {
		t.Errorf("unverified must cover the outage and only it (%+v)", o)
	}
}
