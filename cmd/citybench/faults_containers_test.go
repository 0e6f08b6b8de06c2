//go:build containers

package main

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/citybench/citybench/reports/result"
)

// faultScenario is a CI-sized fault run: 100 QoS 1 devices with persistent
// sessions at 4 msgs/s each, the fault at 8 s, 22 s of load in all.
const faultScenario = `name: ci-%s
seed: 9
warmup: 3s
duration: 19s
drain: 60s
fleets:
  - name: env
    devices: 100
    topic: city/{district}/env/{device}
    locations: {district: [north, south]}
    codec: json
    qos: 1
    clean_session: false
    sensors: [{metric: temperature, mean: 28.7, stddev: 3.5}]
    arrival: {kind: fixed, interval: 250ms, jitter: 20ms}
target:
  kind: containers
faults:
  - %s
slos:
  - store.loss == 0
  - store.duplicates == 0
`

// TestFaultsOnContainers kills one Kafka broker and restarts the broker during
// a run on real containers: nothing may be lost or stored twice, the fault must
// be recorded within 100 ms of its planned start, and the store must get figures.
func TestFaultsOnContainers(t *testing.T) {
	cases := []struct{ name, fault string }{
		{"kafka-broker-kill", "{at: 8s, duration: 8s, action: kill, target: kafka-2}"},
		{"broker-restart", "{at: 8s, action: restart, target: broker}"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, c.name+".yaml")
			if err := os.WriteFile(path, fmt.Appendf(nil, faultScenario, c.name, c.fault), 0o644); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			root := newRootCmd()
			root.SetOut(&out)
			root.SetErr(&out)
			root.SetArgs([]string{"run", path, "--out", filepath.Join(dir, "run"), "--no-report", "-q"})
			if err := root.Execute(); err != nil && exitCode(err) != exitSLOFails {
				t.Fatalf("run: %v\n%s", err, out.String())
			}
			res, err := result.Load(filepath.Join(dir, "run", "result.json"))
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Faults) != 1 {
				t.Fatalf("faults %+v, want the one planned", res.Faults)
			}
			f := res.Faults[0]
			if f.Error != "" || math.Abs(f.AtS-8) > 0.1 {
				t.Errorf("fault %+v: want it performed at 8 s (±100 ms)", f)
			}
			store := res.Stage("store")
			if store == nil {
				t.Fatal("no store stage")
			}
			if d := store.Delivery; d.Expected == 0 || d.Lost != 0 || d.Duplicated != 0 {
				t.Errorf("store delivery %+v: want every reading once", d)
			}
			var figures *result.FaultImpact
			for i := range f.Stages {
				if f.Stages[i].Stage == "store" {
					figures = &f.Stages[i]
				}
			}
			if figures == nil || figures.Expected == 0 {
				t.Errorf("no store figures for the fault: %+v", f.Stages)
			}
			t.Logf("%s\n%s", c.name, out.String())
		})
	}
}
