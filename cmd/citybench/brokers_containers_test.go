//go:build containers

package main

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/citybench/citybench/harness/domains"
	"github.com/citybench/citybench/harness/schedule"
	"github.com/citybench/citybench/reports/result"
	"github.com/citybench/citybench/scenarios"
)

// TestBrokerTierOnContainers runs the catalog's city-districts scenario through
// the CLI: two pinned Mosquitto brokers, each with its own bridge into one Kafka
// cluster, devices on the broker of their street. Every stage must see every
// message — the broker stage through a tap on each broker, the store read back
// from Cassandra — and both brokers must have carried devices.
func TestBrokerTierOnContainers(t *testing.T) {
	const path = "../../scenarios/city-districts.yaml"
	sc, err := scenarios.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := schedule.Build(sc)
	if err != nil {
		t.Fatal(err)
	}
	shares := domains.Shares(plan, sc.Target.Brokers)
	for i, n := range shares {
		if n == 0 {
			t.Fatalf("broker %d of %d gets no devices (%v): the test would not exercise the tier", i+1, len(shares), shares)
		}
	}
	dir := t.TempDir()
	var out bytes.Buffer
	root := newRootCmd()
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs([]string{"run", path, "--out", dir, "--no-report", "-q"})
	if err := root.Execute(); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	res, err := result.Load(filepath.Join(dir, "result.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Meta.Target.Topology["brokers"]; got != "2" {
		t.Errorf("topology brokers %q, want 2: %v", got, res.Meta.Target.Topology)
	}
	for _, stage := range result.Stages {
		st := res.Stage(stage)
		if st == nil {
			t.Errorf("stage %s missing", stage)
			continue
		}
		if st.Delivery.Expected == 0 || st.Delivery.Lost != 0 || st.Delivery.Unverified != 0 {
			t.Errorf("stage %s: %+v, want every message", stage, st.Delivery)
		}
	}
	if got := res.Counters["broker_clients_maximum"]; got < int64(sc.Devices()) {
		t.Errorf("the brokers' most clients at once add up to %d, want the %d devices at least", got, sc.Devices())
	}
	seen := map[string]bool{}
	for _, r := range res.Resources {
		seen[r.Component] = true
	}
	for _, c := range []string{"mqtt-1", "mqtt-2", "bridge-1", "bridge-2"} {
		if !seen[c] {
			t.Errorf("no resource samples of %s: the tier did not run as two brokers with a bridge each", c)
		}
	}
	t.Logf("devices per broker %v\n%s", shares, out.String())
}
