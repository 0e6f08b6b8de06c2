package testcontainers

import (
	"fmt"

	"github.com/citybench/citybench/scenarios"
)

// The broker tier's budgets: how many devices one broker container is given.
// Both come from BenchmarkMosquittoConnections on the machine citybench is built
// on (2 cores, open files hard-capped at 20,000; docs/scale.md), 19,500 bare
// MQTT connections, 64 in flight:
//
//   - through the engine's loopback port mapping Mosquitto took 3,311–3,339 in
//     four runs and the rest were reset: Docker's userland proxy (docker-proxy)
//     carries every mapped connection and holds six files for each (500 idle
//     connections added 3,000 to its open files), under the same 20,000 limit;
//   - at the container's own address on the engine's network it took all
//     19,500 (2.2 KiB of broker memory each), one file each under ContainerOpenFiles.
//
// A budget stays well below what was measured: devices spread over brokers by
// location, not evenly (up to 1.2× the mean share in the catalog's city-50k),
// and a reconnecting device briefly holds two sockets.
const (
	// BrokerDevices is a broker's budget when devices reach it at its container
	// address: the broker tier gets one broker per BrokerDevices devices.
	BrokerDevices = 12000
	// MappedBrokerDevices is a broker's budget through the port mapping. Above it
	// devices connect to the brokers' container addresses instead; with security
	// tls (whose certificates name the brokers, not their addresses) it is the
	// budget that sizes the tier.
	MappedBrokerDevices = 1500
)

// BrokerBudget is how many devices one broker of this topology is given.
func (t Topology) BrokerBudget() int {
	if t.Security == "tls" {
		return MappedBrokerDevices
	}
	return BrokerDevices
}

// DirectBrokers reports whether devices of a run of devices devices reach the
// brokers at their container addresses rather than through the port mapping:
// when a broker's share is more than the mapping carries.
func (t Topology) DirectBrokers(devices int) bool {
	return t.Security != "tls" && ceilDiv(devices, t.Brokers) > MappedBrokerDevices
}

// CheckBrokers refuses, before anything starts, a containers scenario whose
// broker tier cannot hold its devices: a pinned target.brokers too small for
// them, or more devices than the largest tier takes. The error names the file,
// line and field.
func CheckBrokers(sc *scenarios.Scenario) error {
	top, err := TopologyFor(sc.Target, sc.Devices())
	devices, budget := sc.Devices(), top.BrokerBudget()
	need := ceilDiv(devices, budget)
	switch {
	case sc.Target.Brokers == 0 && need > scenarios.MaxBrokers:
		return sc.FieldError("fleets", "%d devices need %d brokers of %d devices each (%s), but a tier has at most %d — run the scenario as segments on several machines (--segment i/n, docs/scale.md)",
			devices, need, budget, budgetWhy(top), scenarios.MaxBrokers)
	case err != nil:
		return sc.FieldError("target", "%v", err)
	case sc.Target.Brokers > 0 && ceilDiv(devices, top.Brokers) > budget:
		return sc.FieldError("target.brokers", "%d devices over %d brokers is %d each, but one broker here takes %d (%s) — set brokers to %d or more, or leave it out to size the tier by the devices",
			devices, top.Brokers, ceilDiv(devices, top.Brokers), budget, budgetWhy(top), need)
	}
	return nil
}

func budgetWhy(t Topology) string {
	if t.Security == "tls" {
		return "with security tls devices reach the brokers through the engine's port mapping, whose proxy holds six files per connection"
	}
	return fmt.Sprintf("one open file per device under the containers' limit of %d, with room for uneven shares", ContainerOpenFiles)
}

// checkBrokerFault refuses process faults on a broker tier: a fault acts on the
// one broker of a single-broker topology. A broker whose devices connect to its
// container address may only be paused: stopped or restarted, a container can
// come back with another address, which the devices do not know.
func (t *Target) checkBrokerFault(f scenarios.Fault) error {
	if t.top.Brokers > 1 {
		return fmt.Errorf("broker faults act on the one broker of a single-broker topology, but this one has %d — set target.brokers: 1", t.top.Brokers)
	}
	if t.top.DirectBrokers(t.cfg.devices) && f.Action != scenarios.ActionPause {
		return fmt.Errorf("%d devices reach the broker at its container address, which the container may not keep across a %s — use pause, or at most %d devices", t.cfg.devices, f.Action, MappedBrokerDevices)
	}
	return nil
}
