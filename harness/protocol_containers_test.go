//go:build containers

package harness_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/citybench/citybench/harness"
	"github.com/citybench/citybench/reports/result"
	"github.com/citybench/citybench/scenarios"
	"github.com/citybench/citybench/testcontainers"
)

// runOnContainers runs a catalog scenario on the containers target with the
// given broker and fails t unless it lost nothing at any stage.
func runOnContainers(t *testing.T, file, broker string) (*scenarios.Scenario, *result.Result) {
	t.Helper()
	sc, err := scenarios.Load("../scenarios/" + file)
	if err != nil {
		t.Fatal(err)
	}
	sc.Target.Kind, sc.Target.Broker = scenarios.TargetContainers, broker
	if err := sc.Validate(); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	tg := testcontainers.NewTarget(sc.Target, testcontainers.WithLogger(log), testcontainers.WithPayloads(sc.Payloads()))
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	res, err := harness.Run(ctx, sc, harness.Options{Target: tg, Logger: log})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if left, err := testcontainers.Leftovers(context.Background(), tg.RunID()); err != nil || len(left) > 0 {
		t.Errorf("left after the run: %v %v", left, err)
	}
	for _, st := range res.Stages {
		t.Logf("%-6s %+v p50 %s p99 %s", st.Stage, st.Delivery, result.FormatUs(st.Latency.P50Us), result.FormatUs(st.Latency.P99Us))
	}
	lossless(t, res)
	return sc, res
}

// TestMixedProtocolsContainers runs the catalog's MQTT 3.1.1 + MQTT 5
// scenario on real brokers — Mosquitto and HiveMQ CE both serve MQTT 5 (the
// bridge stays on 3.1.1) — with no loss at any stage.
func TestMixedProtocolsContainers(t *testing.T) {
	for _, broker := range []string{scenarios.BrokerMosquitto, scenarios.BrokerHiveMQ} {
		t.Run(broker, func(t *testing.T) {
			_, res := runOnContainers(t, "mqtt5-mixed.yaml", broker)
			if n := res.MQTT5ReasonCodes["connack"]["0x00 success"]; n == 0 {
				t.Errorf("no MQTT 5 CONNACK succeeded: %v", res.MQTT5ReasonCodes)
			}
			t.Logf("MQTT 5 reason codes %v", res.MQTT5ReasonCodes)
		})
	}
}

// TestReconnectStormContainers runs the catalog's 2,000-device reconnect storm
// against Mosquitto: every device reconnects and resumes its session, and the
// store loses nothing. Run it under the heavy lock: it is 2,000 devices.
func TestReconnectStormContainers(t *testing.T) {
	_, res := runOnContainers(t, "reconnect-storm.yaml", scenarios.BrokerMosquitto)
	for _, st := range res.Reconnects {
		if st.Reconnected != st.Dropped || st.SessionResumed != st.Dropped {
			t.Errorf("fleet %s: dropped %d, reconnected %d, resumed %d", st.Fleet, st.Dropped, st.Reconnected, st.SessionResumed)
		}
		t.Logf("fleet %s: %d/%d reconnected in %.2f s (peak %.0f/s, mean %.0f/s), connect p50 %s p90 %s p99 %s max %s, %d attempts, CONNACK failures %v, network failures %d, %d queued",
			st.Fleet, st.Reconnected, st.Dropped, st.EndS-st.AtS, st.ConnectRatePeak, st.ConnectRateMean, result.FormatUs(st.ConnectLatency.P50Us),
			result.FormatUs(st.ConnectLatency.P90Us), result.FormatUs(st.ConnectLatency.P99Us), result.FormatUs(st.ConnectLatency.MaxUs),
			st.Attempts, st.ConnackFailures, st.NetworkFailures, st.Queued)
	}
}
