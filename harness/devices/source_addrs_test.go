package devices_test

import (
	"context"
	"log/slog"
	"net"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"

	"github.com/citybench/citybench/harness/devices"
	"github.com/citybench/citybench/harness/ledger"
	"github.com/citybench/citybench/harness/schedule"
	"github.com/citybench/citybench/scenarios"
)

// TestSourceAddrsSpreadConnections connects devices with three loopback source
// addresses and checks, on the broker's side, that they came from all three.
func TestSourceAddrsSpreadConnections(t *testing.T) {
	for _, tt := range []struct {
		addrs int
		want  []string
	}{
		{addrs: 1, want: []string{"127.0.0.1"}},
		{addrs: 3, want: []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}},
	} {
		b := mochi.New(&mochi.Options{Logger: slog.New(slog.DiscardHandler)})
		if err := b.AddHook(new(auth.AllowHook), nil); err != nil {
			t.Fatal(err)
		}
		ln := listeners.NewTCP(listeners.Config{ID: "tcp", Address: "127.0.0.1:0"})
		if err := b.AddListener(ln); err != nil {
			t.Fatal(err)
		}
		if err := b.Serve(); err != nil {
			t.Fatal(err)
		}
		sc, err := scenarios.Parse("t.yaml", []byte(`
name: t
seed: 1
duration: 20s
fleets:
  - {name: m, devices: 6, model: m, topic: "c/{device}", codec: json, qos: 1, sensors: [{metric: x, mean: 1, stddev: 1}], arrival: {kind: fixed, interval: 10s}}
`))
		if err != nil {
			t.Fatal(err)
		}
		plan, err := schedule.Build(sc)
		if err != nil {
			t.Fatal(err)
		}
		sim, err := devices.New(devices.Broker{URLs: []string{"tcp://" + ln.Address()}}, ledger.New(plan), devices.WithSourceAddrs(tt.addrs))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		if err := sim.Connect(ctx); err != nil {
			t.Fatal(err)
		}
		from := map[string]int{}
		for _, cl := range b.Clients.GetAll() {
			host, _, err := net.SplitHostPort(cl.Net.Remote)
			if err != nil {
				t.Fatal(err)
			}
			from[host]++
		}
		sim.Disconnect(0)
		cancel()
		_ = b.Close()
		if len(from) != len(tt.want) {
			t.Fatalf("%d source addresses: connections came from %v, want %v", tt.addrs, from, tt.want)
		}
		for _, w := range tt.want {
			if from[w] != 6/len(tt.want) {
				t.Errorf("%d source addresses: %d connections from %s, want %d (all: %v)", tt.addrs, from[w], w, 6/len(tt.want), from)
			}
		}
	}
}
