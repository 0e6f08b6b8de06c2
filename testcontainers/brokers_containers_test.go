//go:build containers

package testcontainers

import (
	"context"
	"testing"
	"time"

	"github.com/citybench/citybench/harness/limits"
	"github.com/citybench/citybench/scenarios"
)

// TestBrokerTierAddresses starts a tier of two brokers sized for more devices
// than a port mapping carries: devices must be handed each broker's container
// address (not a loopback mapping), and each must carry a round trip there.
func TestBrokerTierAddresses(t *testing.T) {
	devices := 2*MappedBrokerDevices + 2
	tg := NewTarget(scenarios.Target{Kind: "containers", Brokers: 2}, WithDevices(devices), WithLogger(testLogger(t)), withTestLabel())
	tg.cfg.brokerOnly = true
	ep := startTarget(t, tg)
	if len(ep.MQTTURLs) != 2 {
		t.Fatalf("device URLs %v, want one per broker", ep.MQTTURLs)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, u := range ep.MQTTURLs {
		if limits.IsLoopback(u) {
			t.Errorf("device URL %s is the loopback mapping; %d devices over 2 brokers need container addresses", u, devices)
		}
		if err := mqttRoundTrip(ctx, u, nil, "", ""); err != nil {
			t.Errorf("round trip at %s: %v", u, err)
		}
	}
	if got := tg.Describe().Topology["devices_reach_brokers"]; got != "container addresses" {
		t.Errorf("topology says devices reach the brokers by %q", got)
	}
}
