//go:build containers

package testcontainers

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/segmentio/kafka-go"

	"github.com/citybench/citybench/harness/target"
	"github.com/citybench/citybench/pipeline/codec"
	"github.com/citybench/citybench/pipeline/store"
	"github.com/citybench/citybench/scenarios"
)

// These tests need a Docker engine (scripts/docker-engine.sh start) and the offline
// images (make images) or a reachable registry.

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// startTarget starts tg and registers a Stop that also asserts nothing of the run is left.
func startTarget(t testing.TB, tg *Target) target.Endpoints {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := tg.Stop(sctx); err != nil {
			t.Errorf("stop: %v", err)
		}
		left, err := Leftovers(sctx, tg.RunID())
		if err != nil {
			t.Errorf("leftovers: %v", err)
		}
		if len(left) > 0 {
			t.Errorf("left after stop: %v", left)
		}
	})
	began := time.Now()
	ep, err := tg.Start(ctx)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Logf("start took %s", time.Since(began).Round(time.Millisecond))
	return ep
}

// mqttRoundTrip subscribes and publishes one QoS 1 message through url.
func mqttRoundTrip(ctx context.Context, url string, tlsCfg *tls.Config, user, pass string) error {
	opts := func(id string) *mqtt.ClientOptions {
		o := mqtt.NewClientOptions().AddBroker(url).SetClientID(id).SetConnectTimeout(5 * time.Second).SetAutoReconnect(false)
		if tlsCfg != nil {
			o.SetTLSConfig(tlsCfg)
		}
		if user != "" {
			o.SetUsername(user).SetPassword(pass)
		}
		return o
	}
	got := make(chan string, 1)
	sub := mqtt.NewClient(opts("rt-sub"))
	if tok := sub.Connect(); tok.Wait() && tok.Error() != nil {
		return fmt.Errorf("sub connect: %w", tok.Error())
	}
	defer sub.Disconnect(100)
	if tok := sub.Subscribe("citybench/rt", 1, func(_ mqtt.Client, m mqtt.Message) {
		select {
		case got <- string(m.Payload()):
		default:
		}
	}); tok.Wait() && tok.Error() != nil {
		return fmt.Errorf("subscribe: %w", tok.Error())
	}
	pub := mqtt.NewClient(opts("rt-pub"))
	if tok := pub.Connect(); tok.Wait() && tok.Error() != nil {
		return fmt.Errorf("pub connect: %w", tok.Error())
	}
	defer pub.Disconnect(100)
	want := fmt.Sprintf("hello-%d", time.Now().UnixNano())
	if tok := pub.Publish("citybench/rt", 1, false, want); tok.Wait() && tok.Error() != nil {
		return fmt.Errorf("publish: %w", tok.Error())
	}
	select {
	case p := <-got:
		if p != want {
			return fmt.Errorf("got %q, want %q", p, want)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("no message within deadline: %w", ctx.Err())
	}
}

func TestInfrastructureTopology(t *testing.T) {
	dir := t.TempDir()
	tg := NewTarget(scenarios.Target{Kind: "containers"}, WithoutServices(), WithRunDir(dir), WithLogger(testLogger(t)), withTestLabel())
	ep := startTarget(t, tg)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	if err := mqttRoundTrip(ctx, ep.MQTTURLs[0], nil, "", ""); err != nil {
		t.Errorf("mqtt: %v", err)
	}

	// Metadata must list every broker, asked of each one.
	for _, b := range ep.KafkaBrokers {
		ids, err := KafkaBrokers(ctx, kafka.DefaultDialer, b)
		if err != nil {
			t.Fatalf("kafka metadata: %v", err)
		}
		if len(ids) != 3 {
			t.Errorf("%s lists brokers %v, want 3", b, ids)
		}
	}
	if err := kafkaProduceConsume(ctx, ep); err != nil {
		t.Errorf("kafka: %v", err)
	}
	parts, err := kafkaPartitions(ctx, ep.KafkaBrokers[0], ep.KafkaTopic)
	if err != nil {
		t.Fatalf("partitions: %v", err)
	}
	if len(parts) != 6 {
		t.Errorf("topic has %d partitions, want 6", len(parts))
	}
	for _, p := range parts {
		if len(p.Replicas) != 3 {
			t.Errorf("partition %d has %d replicas, want 3", p.ID, len(p.Replicas))
		}
	}

	hosts := tg.CassandraHosts()
	if len(hosts) != 1 {
		t.Fatalf("cassandra hosts %v, want 1", hosts)
	}
	v, err := CQLQuery(ctx, hosts[0], CQLAuth{})
	if err != nil {
		t.Errorf("cql: %v", err)
	} else if !strings.HasPrefix(v, "5.0") {
		t.Errorf("cassandra release %q, want 5.0.x", v)
	}

	// Resource samples arrive for every container.
	sctx, scancel := context.WithTimeout(ctx, 4*time.Second)
	defer scancel()
	ch, err := tg.SampleResources(sctx, time.Now())
	if err != nil {
		t.Fatalf("sample resources: %v", err)
	}
	seen := map[string]bool{}
	for s := range ch {
		if s.MemoryBytes <= 0 {
			t.Errorf("%s: memory %d", s.Component, s.MemoryBytes)
		}
		seen[s.Component] = true
	}
	for name := range tg.Containers() {
		if !seen[name] {
			t.Errorf("no resource sample for %s", name)
		}
	}

	// Logs are saved at Stop: stop now and look.
	sctx2, c2 := context.WithTimeout(context.Background(), 2*time.Minute)
	defer c2()
	if err := tg.Stop(sctx2); err != nil {
		t.Fatalf("stop: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "containers", "kafka-1.log"))
	if err != nil {
		t.Fatalf("kafka log: %v", err)
	}
	if !strings.Contains(string(b), "Kafka Server started") {
		t.Errorf("kafka-1.log lacks the start line (%d bytes)", len(b))
	}
}

// kafkaProduceConsume checks kafka-go against this Kafka, connecting as the
// endpoints say (TLS, SASL): acks=all produce, then a consumer group reads the
// message back and commits.
func kafkaProduceConsume(ctx context.Context, ep target.Endpoints) error {
	tr, err := ep.KafkaSecurity.Transport(5*time.Second, 0)
	if err != nil {
		return err
	}
	d, err := ep.KafkaDialer()
	if err != nil {
		return err
	}
	w := &kafka.Writer{Addr: kafka.TCP(ep.KafkaBrokers...), Topic: ep.KafkaTopic, RequiredAcks: kafka.RequireAll, BatchTimeout: 10 * time.Millisecond, Transport: tr}
	defer w.Close()
	want := fmt.Sprintf("probe-%d", time.Now().UnixNano())
	if err := w.WriteMessages(ctx, kafka.Message{Key: []byte("k"), Value: []byte(want)}); err != nil {
		return fmt.Errorf("produce: %w", err)
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: ep.KafkaBrokers, Topic: ep.KafkaTopic, GroupID: "citybench-probe", StartOffset: kafka.FirstOffset, MaxWait: 200 * time.Millisecond, Dialer: d})
	defer r.Close()
	rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		m, err := r.FetchMessage(rctx)
		if err != nil {
			return fmt.Errorf("consume: %w", err)
		}
		if err := r.CommitMessages(rctx, m); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
		if string(m.Value) == want {
			return nil
		}
	}
}

func kafkaPartitions(ctx context.Context, bootstrap, topic string) ([]kafka.Partition, error) {
	var d kafka.Dialer
	conn, err := d.DialContext(ctx, "tcp", bootstrap)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ReadPartitions(topic)
}

func TestBrokers(t *testing.T) {
	for _, broker := range []string{CompMosquitto, CompHiveMQ} {
		t.Run(broker, func(t *testing.T) {
			tg := NewTarget(scenarios.Target{Kind: "containers", Broker: broker}, WithLogger(testLogger(t)), withTestLabel())
			tg.cfg.brokerOnly = true
			ep := startTarget(t, tg)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := mqttRoundTrip(ctx, ep.MQTTURLs[0], nil, "", ""); err != nil {
				t.Errorf("round trip: %v", err)
			}
			if broker != CompMosquitto {
				return
			}
			// The round trip's publish must show in the broker's own counters,
			// which Mosquitto republishes every sys_interval (1 s): poll, bounded.
			var c map[string]int64
			for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(time.Second) {
				if c = tg.Counters(ctx); c["broker_messages_received"] >= 1 {
					break
				}
			}
			if c["broker_messages_received"] < 1 {
				t.Errorf("broker counters %v: want the round trip's message", c)
			}
			if _, ok := c["broker_messages_dropped"]; !ok {
				t.Errorf("broker counters %v lack broker_messages_dropped", c)
			}
		})
	}
}

func TestMissingImageFailsFast(t *testing.T) {
	dc, err := newDocker(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	cases := []struct {
		name       string
		components []string
	}{
		{"broker", []string{CompMosquitto}},
		{"kafka and cassandra", []string{CompKafka, CompCassandra}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// Upstream images are never built here, and no registry answers on this
			// machine: resolution must give up within the pull deadline, with advice.
			began := time.Now()
			_, err := ResolveCatalog(context.Background(), dc, Upstream, c.components, 10*time.Second)
			if err == nil {
				t.Skip("upstream images are present or pullable here; nothing to fail")
			}
			if !errors.Is(err, ErrImageMissing) {
				t.Fatalf("err = %v, want ErrImageMissing", err)
			}
			if !strings.Contains(err.Error(), "make images") {
				t.Errorf("error gives no advice: %v", err)
			}
			if d := time.Since(began); d > time.Duration(len(c.components))*12*time.Second {
				t.Errorf("took %s; want a fast failure", d)
			}
		})
	}
}

// TestScaledTopology exercises the multi-instance paths: a second Cassandra node
// joining the first, a single Kafka broker with RF 1, bridge and sink replicas.
func TestScaledTopology(t *testing.T) {
	tg := NewTarget(scenarios.Target{Kind: "containers", KafkaBrokers: 1, Partitions: 2, CassandraNodes: 2, BridgeReplicas: 2, SinkReplicas: 2},
		WithLogger(testLogger(t)), withTestLabel(), WithCassandraHeap("512M", "96M"))
	ep := startTarget(t, tg)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if len(tg.CassandraHosts()) != 2 {
		t.Fatalf("cassandra hosts %v, want 2", tg.CassandraHosts())
	}
	for _, h := range tg.CassandraHosts() {
		if _, err := CQLQuery(ctx, h, CQLAuth{}); err != nil {
			t.Errorf("cql %s: %v", h, err)
		}
	}
	names := tg.Containers()
	for _, want := range []string{"bridge-1", "bridge-2", "sink-1", "sink-2", "api", "kafka-1", "cassandra-2"} {
		if _, ok := names[want]; !ok {
			t.Errorf("no container %s in %v", want, names)
		}
	}
	now := time.Now().UTC()
	dev := fmt.Sprintf("dev-%d", now.UnixNano())
	payload, err := codec.JSON().Encode(codec.Reading{DeviceID: dev, Seq: 1, SampleTimeNs: now.UnixNano(), Metrics: map[string]float64{"no2": 87.3}})
	if err != nil {
		t.Fatal(err)
	}
	pub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(ep.MQTTURLs[0]).SetClientID("scaled-pub"))
	if tok := pub.Connect(); tok.Wait() && tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer pub.Disconnect(100)
	if tok := pub.Publish("hypo_city/c1/s1/g1/"+dev, 1, false, payload); tok.Wait() && tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	err = poll(ctx, "stored reading", 500*time.Millisecond, func(ctx context.Context) error {
		rows, err := ep.Store.Readings(ctx, store.Query{DeviceID: dev, From: now.Add(-time.Minute), To: now.Add(time.Minute)})
		if err != nil {
			return err
		}
		if len(rows) != 1 {
			return fmt.Errorf("%d rows stored, want 1", len(rows))
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
}

// TestFaults pauses and stops the broker: while paused it must not answer, while
// stopped it must refuse, and afterwards it must serve again.
func TestFaults(t *testing.T) {
	tg := NewTarget(scenarios.Target{Kind: "containers"}, WithLogger(testLogger(t)), withTestLabel())
	tg.cfg.brokerOnly = true
	ep := startTarget(t, tg)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	url := ep.MQTTURLs[0]

	paused := make(chan error, 1)
	go func() { paused <- tg.Pause(ctx, "mqtt", 4*time.Second) }()
	time.Sleep(500 * time.Millisecond)
	cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
	if err := MQTTConnect(cctx, url, nil, "", ""); err == nil {
		t.Errorf("paused broker accepted a connection")
	}
	ccancel()
	if err := <-paused; err != nil {
		t.Fatalf("pause: %v", err)
	}
	if err := poll(ctx, "broker after pause", 200*time.Millisecond, func(ctx context.Context) error {
		return MQTTConnect(ctx, url, nil, "", "")
	}); err != nil {
		t.Errorf("after pause: %v", err)
	}

	if err := tg.StopContainer(ctx, "mqtt", time.Second); err != nil {
		t.Fatal(err)
	}
	if err := MQTTConnect(ctx, url, nil, "", ""); err == nil {
		t.Errorf("stopped broker accepted a connection")
	}
	if err := tg.StartContainer(ctx, "mqtt"); err != nil {
		t.Fatal(err)
	}
	// Docker may map a new host port on restart; the endpoint must still be valid for
	// the harness, so the same URL is used.
	if err := poll(ctx, "broker after restart", 200*time.Millisecond, func(ctx context.Context) error {
		return MQTTConnect(ctx, url, nil, "", "")
	}); err != nil {
		t.Errorf("after restart: %v", err)
	}
	if err := tg.Pause(ctx, "no-such", time.Millisecond); err == nil || !strings.Contains(err.Error(), "mqtt") {
		t.Errorf("unknown container: err %v, want one listing the containers", err)
	}
}

// TestExitDuringStartFailsFast gives Kafka a cluster id starting with '-', which
// `kafka-storage format -t` reads as an option (exit 1): the start must end within
// 15 s — not at its 6-minute timeout — naming the container, its exit code and the
// tool's complaint from the log, and leave nothing behind.
func TestExitDuringStartFailsFast(t *testing.T) {
	id, err := newClusterID(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tg := NewTarget(scenarios.Target{Kind: "containers"}, WithoutServices(), WithLogger(testLogger(t)), withTestLabel())
	tg.cfg.kafkaClusterID = "-" + id[1:]
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	began := time.Now()
	_, err = tg.Start(ctx)
	took := time.Since(began)
	t.Logf("start failed after %s: %v", took.Round(time.Millisecond), err)
	var exited *ExitedError
	if !errors.As(err, &exited) {
		t.Fatalf("err = %v, want an *ExitedError", err)
	}
	if !strings.HasPrefix(exited.Name, "kafka-") || exited.Component != CompKafka || exited.ExitCode == 0 {
		t.Errorf("exited %s (%s) code %d, want a kafka broker with a non-zero code", exited.Name, exited.Component, exited.ExitCode)
	}
	if !strings.Contains(err.Error(), "expected one argument") {
		t.Errorf("error lacks the storage tool's complaint from the log tail: %v", err)
	}
	// The acceptance bound is on the wait: the start must stop waiting within 15 s.
	// Removing the containers afterwards takes Docker seconds more on a loaded host.
	t.Logf("exit seen %s into the start; the start returned after %s", exited.After.Round(time.Millisecond), took.Round(time.Millisecond))
	if exited.After > 15*time.Second {
		t.Errorf("exit seen %s into the start; want under 15 s", exited.After)
	}
	if took > 30*time.Second {
		t.Errorf("start took %s to fail, teardown included; want under 30 s", took)
	}
	assertNoLeftovers(t, tg.RunID(), "failed start")
}

// TestNoLeftoversAfterRun starts and stops a target and asserts the engine holds
// no container or network of that run.
func TestNoLeftoversAfterRun(t *testing.T) {
	tg := NewTarget(scenarios.Target{Kind: "containers"}, WithLogger(testLogger(t)), withTestLabel())
	tg.cfg.brokerOnly = true
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := tg.Start(ctx); err != nil {
		t.Fatal(err)
	}
	during, err := Leftovers(ctx, tg.RunID())
	if err != nil {
		t.Fatal(err)
	}
	// A check that cannot see the run's resources while it runs would pass vacuously.
	if len(during) != 2 {
		t.Fatalf("while running, found %v; want the broker container and the network", during)
	}
	if err := tg.Stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	left, err := Leftovers(ctx, tg.RunID())
	if err != nil {
		t.Fatal(err)
	}
	if len(left) > 0 {
		t.Errorf("left after stop: %v", left)
	}
	if err := tg.Stop(ctx); err != nil {
		t.Errorf("second stop: %v", err)
	}
}

// TestCancelledStartLeavesNothing cancels a start midway: Start must return the
// cancellation and remove what it had created.
func TestCancelledStartLeavesNothing(t *testing.T) {
	tg := NewTarget(scenarios.Target{Kind: "containers"}, WithoutServices(), WithLogger(testLogger(t)), withTestLabel())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := tg.Start(ctx)
	if err == nil {
		tg.Stop(context.Background())
		t.Fatal("start succeeded within 5 s; cannot test cancellation")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want the deadline", err)
	}
	assertNoLeftovers(t, tg.RunID(), "cancelled start")
}

// assertNoLeftovers fails t if any container or network of run runID remains after what.
func assertNoLeftovers(t *testing.T, runID, what string) {
	t.Helper()
	left, err := Leftovers(context.Background(), runID)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) > 0 {
		t.Errorf("left after %s: %v", what, left)
	}
}

// TestFullPipeline drives one reading through every container: MQTT → bridge →
// Kafka → sink → Cassandra, and reads it back from the store and the API.
func TestFullPipeline(t *testing.T) {
	dir := t.TempDir()
	tg := NewTarget(scenarios.Target{Kind: "containers"}, WithRunDir(dir), WithLogger(testLogger(t)), withTestLabel())
	ep := startTarget(t, tg)
	if ep.Store == nil || ep.APIURL == "" {
		t.Fatalf("endpoints lack store or API: %+v", ep)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	now := time.Now().UTC()
	dev := fmt.Sprintf("dev-%d", now.UnixNano())
	payload, err := codec.JSON().Encode(codec.Reading{DeviceID: dev, Seq: 1, SampleTimeNs: now.UnixNano(), Metrics: map[string]float64{"temperature": 28.7}})
	if err != nil {
		t.Fatal(err)
	}
	pub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(ep.MQTTURLs[0]).SetClientID("full-pub"))
	if tok := pub.Connect(); tok.Wait() && tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer pub.Disconnect(100)
	if tok := pub.Publish("hypo_city/c1/s1/g1/"+dev, 1, false, payload); tok.Wait() && tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}

	var rows []store.Row
	err = poll(ctx, "stored reading", 500*time.Millisecond, func(ctx context.Context) error {
		rows, err = ep.Store.Readings(ctx, store.Query{DeviceID: dev, From: now.Add(-time.Minute), To: now.Add(time.Minute)})
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			return errors.New("not stored yet")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if rows[0].Seq != 1 || rows[0].Metrics["temperature"] != 28.7 || rows[0].WriteTime.IsZero() {
		t.Errorf("stored row %+v", rows[0])
	}
	t.Logf("store latency %s", rows[0].WriteTime.Sub(now))
	if err := HTTPOK(ctx, ep.APIURL+"/api/v1/devices/"+dev+"/readings"); err != nil {
		t.Errorf("api: %v", err)
	}
}

// testRunLabel marks every container and network these tests create, so the final
// check sees this process's leftovers and not those of container tests another
// package runs at the same time.
var testRunLabel = "org.citybench.test-process=" + strconv.Itoa(os.Getpid())

// TestMain fails the package when any container or network these tests created
// survives them, whatever each test's own clean-up said.
func TestMain(m *testing.M) {
	code := m.Run()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	left, err := LeftoversLabelled(ctx, testRunLabel)
	switch {
	case err != nil:
		fmt.Fprintln(os.Stderr, "leftover check:", err)
		code = 1
	case len(left) > 0:
		fmt.Fprintln(os.Stderr, "citybench resources left after the tests:", left)
		code = 1
	}
	os.Exit(code)
}

func withTestLabel() Option {
	k, v, _ := strings.Cut(testRunLabel, "=")
	return WithRunLabel(k, v)
}
