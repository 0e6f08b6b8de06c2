//go:build containers

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/citybench/citybench/reports/result"
)

// TestSmokeOnContainers runs the CI smoke scenario through the CLI on real
// containers — Mosquitto, then HiveMQ CE, with Kafka ×3 at RF 3 and Cassandra —
// and checks that every stage reported and nothing was lost at QoS 1, without and
// with the tls security profile. The store
// stage is Cassandra's own WRITETIME of each row, read back after the run.
func TestSmokeOnContainers(t *testing.T) {
	smoke, err := os.ReadFile("../../scenarios/smoke.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// The security profile on every hop: MQTT TLS only with per-run x.509 client
	// certificates (and a password on Mosquitto), Kafka SASL_SSL with SCRAM, Cassandra
	// client TLS with a password.
	tlsScenario := filepath.Join(t.TempDir(), "smoke-tls.yaml")
	if err := os.WriteFile(tlsScenario, bytes.Replace(smoke, []byte("  kind: embedded\n"), []byte("  kind: embedded\n  security: tls\n"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, scenario, broker string
		workers                int // worker processes against the one topology (0: this process)
	}{
		{"mosquitto", "../../scenarios/smoke.yaml", "mosquitto", 0},
		{"hivemq", "../../scenarios/smoke.yaml", "hivemq", 0},
		{"mosquitto-tls", tlsScenario, "mosquitto", 0},
		{"mosquitto-workers", "../../scenarios/smoke.yaml", "mosquitto", 2},
		{"hivemq-tls", tlsScenario, "hivemq", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			broker := c.broker
			dir := t.TempDir()
			var out bytes.Buffer
			root := newRootCmd()
			root.SetOut(&out)
			root.SetErr(&out)
			args := []string{"run", c.scenario, "--target", "containers", "--broker", broker, "--out", dir, "--no-report", "-q"}
			if c.workers > 0 {
				t.Setenv(beCitybench, "1") // the workers are this test binary
				args = append(args, "--workers", strconv.Itoa(c.workers))
			}
			root.SetArgs(args)
			err := root.Execute()
			// Exit 99 (a latency SLO missed on a loaded machine) still means a
			// complete run; delivery is checked below either way.
			if err != nil && exitCode(err) != exitSLOFails {
				t.Fatalf("run: %v\n%s", err, out.String())
			}
			res, err := result.Load(filepath.Join(dir, "result.json"))
			if err != nil {
				t.Fatal(err)
			}
			if got := res.Meta.Target.Topology["broker"]; got == "" {
				t.Errorf("topology names no broker: %v", res.Meta.Target.Topology)
			}
			if strings.HasSuffix(c.name, "-tls") && res.Meta.Target.Topology["security"] != "tls" {
				t.Errorf("topology %v: want security tls", res.Meta.Target.Topology)
			}
			for _, stage := range result.Stages {
				st := res.Stage(stage)
				if st == nil {
					t.Errorf("stage %s missing", stage)
					continue
				}
				if st.Delivery.Expected == 0 || st.Delivery.Lost != 0 {
					t.Errorf("stage %s: %+v, want no loss", stage, st.Delivery)
				}
			}
			if store := res.Stage("store"); store != nil && store.Delivery.Expected < 1500 {
				t.Errorf("store expected only %d messages", store.Delivery.Expected)
			}
			if len(res.Workers) != c.workers || (c.workers > 0 && res.Meta.Segments != c.workers) {
				t.Errorf("%d workers, %d segments in the result; want %d", len(res.Workers), res.Meta.Segments, c.workers)
			}
			if len(res.Resources) == 0 {
				t.Error("no container resource samples")
			}
			t.Logf("%s: store p50 %dµs p99 %dµs\n%s", broker, res.Stage("store").Latency.P50Us, res.Stage("store").Latency.P99Us, out.String())
		})
	}
}
