package devices

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	mochipackets "github.com/mochi-mqtt/server/v2/packets"

	"github.com/citybench/citybench/harness/ledger"
	"github.com/citybench/citybench/harness/schedule"
	"github.com/citybench/citybench/harness/target"
	"github.com/citybench/citybench/harness/target/embedded"
	"github.com/citybench/citybench/scenarios"
)

// stormScenario is two fleets of n devices, one per protocol, whose every
// connection drops at 2 s.
func stormScenario(t *testing.T, n int, cleanSession bool) *scenarios.Scenario {
	t.Helper()
	fleet := func(name, protocol, extra string) string {
		return fmt.Sprintf(`
  - name: %s
    devices: %d
    protocol: %s
    clean_session: %v%s
    topic: city/{device}
    codec: json
    qos: 1
    sensors: [{metric: t, mean: 1, stddev: 1}]
    arrival: {kind: fixed, interval: 200ms}
    reconnect: {at: 2s, backoff: {initial: 100ms, max: 1s, jitter: 0.5}}`, name, n, protocol, cleanSession, extra)
	}
	sc, err := scenarios.Parse("storm.yaml", []byte("name: storm\nduration: 5s\nfleets:"+
		fleet("v311", "3.1.1", "")+fleet("v5", "5", "\n    mqtt5: {session_expiry: 1m, topic_aliases: true}")))
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// TestReconnectStorm drops every device's connection in the middle of its
// sends: each must reconnect and find its session if it kept one. With a kept
// session every message is acknowledged — those due while disconnected too;
// without one, what was in flight at the drop may fail, but only as an error.
func TestReconnectStorm(t *testing.T) {
	for _, tt := range []struct {
		name    string
		clean   bool
		resumed int
	}{{"persistent", false, 20}, {"clean", true, 0}} {
		t.Run(tt.name, func(t *testing.T) { testStorm(t, tt.clean, tt.resumed) })
	}
}

func testStorm(t *testing.T, clean bool, resumed int) {
	sim, plan, led := playEmbedded(t, stormScenario(t, 20, clean))
	defer sim.Disconnect(0)

	for _, st := range sim.Reconnects() {
		if st.Dropped != 20 || st.Reconnected != 20 || st.SessionResumed != resumed {
			t.Errorf("fleet %s: dropped %d, reconnected %d, resumed %d; want 20, 20, %d", st.Fleet, st.Dropped, st.Reconnected, st.SessionResumed, resumed)
		}
		if st.ConnectLatency.Count != 20 || st.EndS <= st.AtS {
			t.Errorf("fleet %s: %d connect latencies, storm %.2f–%.2f s", st.Fleet, st.ConnectLatency.Count, st.AtS, st.EndS)
		}
	}
	sent, acked, errs := led.Delivered(ledger.Sent), led.Delivered(ledger.Acked), led.Errors()
	if sent != int64(plan.Count()) || acked+errs != sent || (!clean && errs != 0) {
		t.Errorf("planned %d, sent %d, acked %d, errors %d: want all sent, each acknowledged or an error (none with a kept session)", plan.Count(), sent, acked, errs)
	}
	t.Logf("sent %d, acked %d, errors %d, queued while disconnected %d", sent, acked, errs, sim.queued.Load())
	if sim.queued.Load() == 0 {
		t.Error("no reading waited for a connection: the storm missed the sends")
	}
}

// startEmbedded starts the embedded pipeline for sc until the test ends.
func startEmbedded(ctx context.Context, t *testing.T, sc *scenarios.Scenario) target.Endpoints {
	t.Helper()
	tgt, err := embedded.New(sc, nil)
	if err != nil {
		t.Fatal(err)
	}
	ep, err := tgt.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tgt.Stop(context.Background()) })
	return ep
}

// TestMQTT5Connections: MQTT 5 devices, kept or connect-send-disconnect, have
// every message acknowledged and leave the connection count at zero.
func TestMQTT5Connections(t *testing.T) {
	for _, connection := range []string{scenarios.ConnectionPersistent, scenarios.ConnectionConnectSendDisconnect} {
		t.Run(connection, func(t *testing.T) {
			sc, err := scenarios.Parse("v5.yaml", []byte(fmt.Sprintf(`
name: v5
duration: 2s
fleets:
  - {name: v5, devices: 5, protocol: 5, connection: %s, topic: "c/{device}", codec: json, qos: 2, mqtt5: {topic_aliases: true, message_expiry: 60s},
     sensors: [{metric: t, mean: 1, stddev: 1}], arrival: {kind: fixed, interval: 200ms}}
`, connection)))
			if err != nil {
				t.Fatal(err)
			}
			sim, plan, led := playEmbedded(t, sc)
			sim.Disconnect(time.Second)
			if sent, acked := led.Delivered(ledger.Sent), led.Delivered(ledger.Acked); sent != int64(plan.Count()) || acked != sent || led.Errors() != 0 {
				t.Errorf("planned %d, sent %d, acked %d, errors %d", plan.Count(), sent, acked, led.Errors())
			}
			if n := sim.Connections(); n != 0 {
				t.Errorf("%d connections counted after Disconnect", n)
			}
			if codes := sim.ReasonCodes(); codes["pubcomp"]["0x00 success"] != int64(plan.Count()) {
				t.Errorf("reason codes %v, want %d successful PUBCOMPs", codes, plan.Count())
			}
		})
	}
}

// playEmbedded connects sc's devices to a fresh embedded pipeline and plays
// the whole plan; the caller disconnects.
func playEmbedded(t *testing.T, sc *scenarios.Scenario) (*Simulator, *schedule.Plan, *ledger.Ledger) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ep := startEmbedded(ctx, t, sc)
	plan, err := schedule.Build(sc)
	if err != nil {
		t.Fatal(err)
	}
	led := ledger.New(plan)
	sim, err := New(Broker{URLs: ep.MQTTURLs}, led)
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	led.SetStart(time.Now())
	sim.Run(ctx, plan.End, 10*time.Second)
	return sim, plan, led
}

// refusingAuth lets every client in until armed, then refuses the next
// `refuse` connection attempts.
type refusingAuth struct {
	mochi.HookBase
	armed  atomic.Bool
	refuse atomic.Int64
}

func (h *refusingAuth) ID() string { return "refusing-auth" }

func (h *refusingAuth) Provides(b byte) bool {
	return b == mochi.OnConnectAuthenticate || b == mochi.OnACLCheck
}

func (h *refusingAuth) OnConnectAuthenticate(*mochi.Client, mochipackets.Packet) bool {
	return !h.armed.Load() || h.refuse.Add(-1) < 0
}

func (h *refusingAuth) OnACLCheck(*mochi.Client, string, bool) bool { return true }

// TestReconnectStormCountsRefusedConnacks: a broker that refuses the first
// reconnect attempts shows in the storm's CONNACK failures, by code, and the
// devices still come back.
func TestReconnectStormCountsRefusedConnacks(t *testing.T) {
	const refused = 8
	auth := &refusingAuth{}
	_, url := ServeMochi(t, auth)
	sc := stormScenario(t, 10, false)
	plan, err := schedule.Build(sc)
	if err != nil {
		t.Fatal(err)
	}
	led := ledger.New(plan)
	sim, err := New(Broker{URLs: []string{url}}, led)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := sim.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	defer sim.Disconnect(0)
	auth.refuse.Store(refused)
	auth.armed.Store(true)
	led.SetStart(time.Now())
	sim.Run(ctx, plan.End, 10*time.Second)

	var failures, attempts, reconnected int64
	for _, st := range sim.Reconnects() {
		for code, n := range st.ConnackFailures {
			t.Logf("fleet %s: CONNACK %s × %d", st.Fleet, code, n)
			failures += n
		}
		attempts += st.Attempts
		reconnected += int64(st.Reconnected)
		if st.NetworkFailures != 0 {
			t.Errorf("fleet %s: %d network failures, want only refusals", st.Fleet, st.NetworkFailures)
		}
	}
	if failures != refused || reconnected != 20 || attempts != reconnected+refused {
		t.Errorf("%d CONNACK failures, %d attempts, %d reconnected; want %d, %d, 20", failures, attempts, reconnected, refused, 20+refused)
	}
}

// ServeMochi serves a bare mochi-mqtt broker with hook on a loopback port
// until the test ends and returns it with its URL (exported for the
// package's external tests).
func ServeMochi(t testing.TB, hook mochi.Hook) (*mochi.Server, string) {
	t.Helper()
	b := mochi.New(&mochi.Options{Logger: slog.New(slog.DiscardHandler)})
	if err := b.AddHook(hook, nil); err != nil {
		t.Fatal(err)
	}
	ln := listeners.NewTCP(listeners.Config{ID: "tcp", Address: "127.0.0.1:0"})
	if err := b.AddListener(ln); err != nil {
		t.Fatal(err)
	}
	if err := b.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b, "tcp://" + ln.Address()
}
