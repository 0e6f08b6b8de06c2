package devices

import (
	"context"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/citybench/citybench/harness/ledger"
	"github.com/citybench/citybench/harness/schedule"
	"github.com/citybench/citybench/scenarios"
)

// TestKilledDeviceWillArrivesOnExpandedTopic kills one device of a fleet whose will
// topic has placeholders: the broker must publish the will on the device's own
// topic, not on the template (brokers used to receive city/{district}/{device}/status).
func TestKilledDeviceWillArrivesOnExpandedTopic(t *testing.T) {
	sc, err := scenarios.Parse("will.yaml", []byte(`
name: will
duration: 30s
fleets:
  - name: env
    devices: 2
    topic: city/{district}/{device}
    locations: {district: [n, s]}
    codec: json
    qos: 1
    will: {topic: "city/{district}/{device}/status", payload: gone, qos: 1}
    sensors: [{metric: t, mean: 1, stddev: 1}]
    arrival: {kind: fixed, interval: 1s}
`))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ep := startEmbedded(ctx, t, sc)

	wills := make(chan string, 16)
	watcher := connect(ctx, t, ep.MQTTURLs[0], "will-watcher")
	if err := waitToken(ctx, watcher.Subscribe("city/#", 1, func(_ mqtt.Client, m mqtt.Message) {
		if string(m.Payload()) == "gone" {
			wills <- m.Topic()
		}
	})); err != nil {
		t.Fatalf("subscribe: %v", err)
	}

	plan, err := schedule.Build(sc)
	if err != nil {
		t.Fatal(err)
	}
	sim, err := New(Broker{URLs: ep.MQTTURLs, TLS: ep.TLS}, ledger.New(plan))
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	defer sim.Disconnect(0)

	// Kill device env-00001: a client with its id takes its session over, so the
	// broker closes the device's connection without a DISCONNECT from the device —
	// what a device that dies looks like to the broker — and publishes its will.
	victim := plan.Devices[1]
	if victim.ID != "env-00001" {
		t.Fatalf("device 1 is %s", victim.ID)
	}
	connect(ctx, t, ep.MQTTURLs[0], victim.ID)

	select {
	case topic := <-wills:
		if want := "city/s/env-00001/status"; topic != want {
			t.Errorf("will published on %q, want %q", topic, want)
		}
	case <-ctx.Done():
		t.Fatal("no will arrived")
	}
}

func connect(ctx context.Context, t *testing.T, url, id string) mqtt.Client {
	t.Helper()
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID(id).SetAutoReconnect(false))
	if err := waitToken(ctx, c.Connect()); err != nil {
		t.Fatalf("connect %s: %v", id, err)
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c
}
