package devices_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/hooks/auth"

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
		b, url := devices.ServeMochi(t, new(auth.AllowHook))
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
		sim, err := devices.New(devices.Broker{URLs: []string{url}}, ledger.New(plan), devices.WithSourceAddrs(tt.addrs))
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
