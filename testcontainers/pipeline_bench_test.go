//go:build containers

package testcontainers

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"

	"github.com/citybench/citybench/harness/target"
	"github.com/citybench/citybench/pipeline/bridge"
	"github.com/citybench/citybench/pipeline/codec"
	"github.com/citybench/citybench/pipeline/sink"
	"github.com/citybench/citybench/pipeline/store"
	"github.com/citybench/citybench/pipeline/store/cassandra"
	"github.com/citybench/citybench/scenarios"
)

// BenchmarkPipeline (make bench-pipeline) measures the reference pipeline's
// bridge and sink beside the bare clients they wrap, against one Mosquitto, one
// Kafka (3 brokers, RF 3, min ISR 2) and one Cassandra started once for both.
// Each raw side does the work a hop must do per record, with the component's
// client settings, and leaves out only what the component adds by design:
//
//   - bridge: benchMessages QoS 1 readings wait in Mosquitto for each side's
//     persistent session (fresh every round); timed from connecting until the
//     last is in Kafka and acknowledged to MQTT.
//     Raw (rawPipe): a bare paho subscriber with the bridge's session options
//     and the bridge's kafka-go writer (bridge.KafkaWriter), one goroutine per
//     partition writing what queued (up to the bridge's batch size) and
//     acknowledging it to MQTT after Kafka did. It leaves out payload
//     validation and dead letters (it keys records by the topic's device
//     instead of decoding), the ordering contract and metrics. paho writes each
//     acknowledgement on its own; the bridge's connection gathers them.
//   - sink: each side reads the whole readings topic (what the bridge rounds
//     wrote); timed until the last row is stored. Raw (rawSink): one kafka-go
//     reader per partition with the sink's reader settings, payloads parsed by
//     encoding/json, rows written with gocql per partition in chunks of the
//     sink's batch size, each chunk as single-partition unlogged batches at the
//     store's write concurrency. It leaves out the consumer group, validation,
//     dead letters, the devices table, offset commits and metrics.
//
// Two ceilings are measured too, not compared against: the same records
// written to Kafka from memory (no MQTT), a bare subscriber only draining the
// backlog, and the sink's rows written to Cassandra from memory (no Kafka).
// Rounds alternate raw and component, and which of them goes first, so a
// machine busy with other work slows both alike. Every side runs under a pprof label side=<name>, so
// -cpuprofile shows where each spent its CPU (go tool pprof -tagfocus).
func BenchmarkPipeline(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	tg := NewTarget(scenarios.Target{Kind: "containers", Broker: CompMosquitto}, WithoutServices(), withTestLabel())
	ep, err := tg.Start(ctx)
	if err != nil {
		b.Fatalf("start containers: %v", err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := tg.Stop(sctx); err != nil {
			b.Errorf("stop containers: %v", err)
		}
	}()
	b.Run("bridge", func(b *testing.B) { benchBridge(ctx, b, tg, ep) })
	b.Run("sink", func(b *testing.B) { benchSink(ctx, b, tg, ep) })
}

const (
	benchDevices  = 100
	benchMessages = 60_000 // long enough that connecting and group joins are a small part of a round; under Mosquitto's max_queued_messages
	benchRawTopic = "bench.raw"
)

var benchQuiet = slog.New(slog.DiscardHandler)

type benchReading struct {
	device, topic string
	payload       []byte
}

func benchReadings(b *testing.B) []benchReading {
	out := make([]benchReading, 0, benchMessages)
	t0 := time.Now().UTC()
	for i := range benchMessages {
		dev := fmt.Sprintf("bench-%03d", i%benchDevices)
		seq := uint64(i/benchDevices + 1)
		p, err := codec.JSON().Encode(codec.Reading{DeviceID: dev, Seq: seq, Model: "env-sensor-v1",
			SampleTimeNs: t0.Add(time.Duration(seq) * time.Millisecond).UnixNano(),
			Metrics:      map[string]float64{"temperature": 28.7, "humidity": 60}})
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, benchReading{device: dev, topic: "bench/" + dev, payload: p})
	}
	return out
}

func benchBridge(ctx context.Context, b *testing.B, tg *Target, ep target.Endpoints) {
	readings := benchReadings(b)
	top := tg.Topology()
	waitTopic(ctx, b, ep, benchRawTopic, top.Partitions)
	opts := []bridge.Option{
		bridge.WithMQTT(ep.MQTTURLs[0]), bridge.WithCredentials(ep.MQTTUsername, ep.MQTTPassword),
		bridge.WithFilter("bench/#"),
		bridge.WithKafka(ep.KafkaBrokers...), bridge.WithTopic(ep.KafkaTopic),
		bridge.WithCodec(codec.JSON()), bridge.WithLogger(benchQuiet),
	}
	var raw, comp, mem, drain time.Duration
	for i := range b.N {
		// Fresh sessions every round: a side stops once it has acknowledged a
		// backlog's worth, and what a reused session still held (messages in
		// flight when the side disconnected) came back first the next round —
		// up to 40,000 extra messages in one round, on either side.
		round := fmt.Sprintf("%d-%d", time.Now().UnixNano(), i)
		drainID, rawID, bridgeID := "bench-drain-"+round, "bench-raw-pipe-"+round, "bench-bridge-"+round
		for _, id := range []string{drainID, rawID, bridgeID} {
			benchSession(b, ep, id, false)
		}
		publishBacklog(ctx, b, ep, readings)
		labelled("raw-produce", func() { mem += rawProduce(ctx, b, opts, top.Partitions, readings) })
		labelled("mqtt-drain", func() { drain += drainMQTT(ctx, b, ep, drainID, len(readings)) })
		alternate(i,
			func() {
				labelled("raw-pipe", func() { raw += rawPipe(ctx, b, ep, rawID, opts, top.Partitions, len(readings)) })
			},
			func() {
				labelled("bridge", func() {
					comp += runBridge(ctx, b, append(opts[:len(opts):len(opts)], bridge.WithClientID(bridgeID)), len(readings))
				})
			})
		for _, id := range []string{drainID, rawID, bridgeID} {
			benchSession(b, ep, id, true)
		}
	}
	n := b.N * len(readings)
	// Ceilings, one client each: the bridge does both at once on one machine.
	b.ReportMetric(float64(n)/mem.Seconds(), "kafka-only-msgs/s")
	b.ReportMetric(float64(n)/drain.Seconds(), "mqtt-only-msgs/s")
	benchReport(b, "bridge", "paho + kafka-go pipe", n, raw, comp)
	b.Logf("bridge = %.0f %% of kafka-go writing the same records from memory (no MQTT), %.0f %% of a bare MQTT drain",
		100*mem.Seconds()/comp.Seconds(), 100*drain.Seconds()/comp.Seconds())
}

// alternate runs raw then comp in even rounds and comp then raw in odd ones,
// so neither side always finds the containers busy with the other's leftovers
// (Cassandra flushing memtables, Mosquitto's redeliveries).
func alternate(round int, raw, comp func()) {
	if round%2 == 1 {
		raw, comp = comp, raw
	}
	raw()
	comp()
}

// labelled runs fn with the pprof label side=name on its goroutine and the
// goroutines it starts.
func labelled(name string, fn func()) {
	pprof.Do(context.Background(), pprof.Labels("side", name), func(context.Context) { fn() })
}

// benchSubscriber connects a paho client with the bridge's session options
// (persistent session, manual acknowledgements, in order) and subscribes it to
// the benchmark's topics; handle also takes the backlog that arrives before
// SUBSCRIBE is answered.
func benchSubscriber(b *testing.B, ep target.Endpoints, id string, handle mqtt.MessageHandler) mqtt.Client {
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(ep.MQTTURLs[0]).SetClientID(id).
		SetUsername(ep.MQTTUsername).SetPassword(ep.MQTTPassword).SetCleanSession(false).
		SetAutoAckDisabled(true).SetOrderMatters(true).SetAutoReconnect(false).
		SetDefaultPublishHandler(handle))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatalf("connect %s: %v", id, tok.Error())
	}
	tok := c.Subscribe("bench/#", 1, handle)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatalf("subscribe %s: %v", id, tok.Error())
	}
	return c
}

// benchSession creates the persistent session id (subscribed to the
// benchmark's topics) for a backlog to wait in, or, with drop, deletes it.
func benchSession(b *testing.B, ep target.Endpoints, id string, drop bool) {
	if !drop {
		benchSubscriber(b, ep, id, func(mqtt.Client, mqtt.Message) {}).Disconnect(100)
		return
	}
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(ep.MQTTURLs[0]).SetClientID(id).
		SetUsername(ep.MQTTUsername).SetPassword(ep.MQTTPassword).SetCleanSession(true).SetAutoReconnect(false))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatalf("connect %s to drop its session: %v", id, tok.Error())
	}
	c.Disconnect(100)
}

// drainMQTT receives a backlog of want messages from its persistent session,
// acknowledging each at once, and returns how long that took from connecting.
func drainMQTT(ctx context.Context, b *testing.B, ep target.Endpoints, id string, want int) time.Duration {
	var got atomic.Int64
	start := time.Now()
	c := benchSubscriber(b, ep, id, func(_ mqtt.Client, m mqtt.Message) { m.Ack(); got.Add(1) })
	defer c.Disconnect(100)
	waitFor(ctx, b, nil, func() bool { return got.Load() >= int64(want) })
	return time.Since(start)
}

// rawPipe moves a backlog of want messages from its MQTT session to Kafka with
// the bare clients and returns how long that took from connecting: the paho
// handler keys each message by the device in its topic and queues it for its
// partition; one goroutine per partition writes what queued, up to the
// bridge's batch size, with the bridge's writer, and hands the written batch to
// a second goroutine that acknowledges it to MQTT.
func rawPipe(ctx context.Context, b *testing.B, ep target.Endpoints, id string, opts []bridge.Option, partitions, want int) time.Duration {
	w, err := bridge.KafkaWriter(opts...)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	ids := make([]int, partitions)
	queues := make([]chan pipeMsg, partitions)
	for i := range ids {
		ids[i] = i
		// Room for a whole backlog and its redeliveries: a full queue would block
		// paho's router, and with it the acknowledgements the writers wait for.
		queues[i] = make(chan pipeMsg, 2*benchMessages)
	}
	var got, acked atomic.Int64
	wctx, stop := context.WithCancel(ctx)
	var g errgroup.Group
	for _, q := range queues {
		g.Go(func() error { return pipePartition(wctx, w, q, &acked) })
	}
	start := time.Now()
	c := benchSubscriber(b, ep, id, func(_ mqtt.Client, m mqtt.Message) {
		got.Add(1)
		key := []byte(m.Topic()[strings.LastIndexByte(m.Topic(), '/')+1:])
		select {
		case queues[w.Balancer.Balance(kafka.Message{Key: key}, ids...)] <- pipeMsg{m: m, key: key}:
		case <-wctx.Done(): // left unacknowledged: redelivered next round
		}
	})
	subscribed := time.Since(start) // benchSubscriber returns once SUBSCRIBE is answered
	var received time.Duration
	waitFor(ctx, b, nil, func() bool {
		if received == 0 && got.Load() >= int64(want) {
			received = time.Since(start)
		}
		return acked.Load() >= int64(want)
	})
	took := time.Since(start)
	if want > 0 {
		b.Logf("raw pipe: subscribed after %v, all %d received after %v, in Kafka and acknowledged after %v (%d received in all)",
			subscribed.Round(time.Millisecond), want, received.Round(time.Millisecond), took.Round(time.Millisecond), got.Load())
	}
	stop()
	c.Disconnect(100)
	if err := g.Wait(); err != nil {
		b.Fatalf("raw pipe: %v", err)
	}
	return took
}

type pipeMsg struct {
	m   mqtt.Message
	key []byte
}

func pipePartition(ctx context.Context, w *kafka.Writer, q <-chan pipeMsg, acked *atomic.Int64) error {
	toAck := make(chan []pipeMsg, 2)
	defer close(toAck)
	go func() {
		for batch := range toAck {
			for _, p := range batch {
				p.m.Ack()
			}
			acked.Add(int64(len(batch)))
		}
	}()
	for {
		var batch []pipeMsg
		select {
		case p := <-q:
			batch = append(make([]pipeMsg, 0, bridge.DefaultBatchSize), p)
		case <-ctx.Done():
			return nil
		}
	more:
		for len(batch) < bridge.DefaultBatchSize {
			select {
			case p := <-q:
				batch = append(batch, p)
			default:
				break more
			}
		}
		records := make([]kafka.Message, len(batch))
		for i, p := range batch {
			records[i] = kafka.Message{Topic: benchRawTopic, Key: p.key, Value: p.m.Payload(), Headers: []kafka.Header{
				{Key: bridge.HeaderSourceTopic, Value: []byte(p.m.Topic())}, {Key: bridge.HeaderCodec, Value: []byte("json")}}}
		}
		if err := w.WriteMessages(ctx, records...); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		toAck <- batch
	}
}

// waitTopic creates topic with the topology's replication and waits until every
// broker's metadata has all its partitions.
func waitTopic(ctx context.Context, tb testing.TB, ep target.Endpoints, topic string, partitions int) {
	tb.Helper()
	d, err := ep.KafkaDialer()
	if err != nil {
		tb.Fatal(err)
	}
	if err := createTopic(ctx, d, ep.KafkaBrokers[0], topic, partitions, 3, 2); err != nil {
		tb.Fatal(err)
	}
	if err := poll(ctx, "topic "+topic+" in metadata", 200*time.Millisecond, func(ctx context.Context) error {
		for _, addr := range ep.KafkaBrokers {
			res, err := (&kafka.Client{Addr: kafka.TCP(addr)}).Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
			if err != nil {
				return err
			}
			if len(res.Topics) != 1 || res.Topics[0].Error != nil || len(res.Topics[0].Partitions) != partitions {
				return fmt.Errorf("%s: %+v", addr, res.Topics)
			}
		}
		return nil
	}); err != nil {
		tb.Fatal(err)
	}
}

// runBridge runs a bridge until it has produced want records and returns how
// long that took from Run.
func runBridge(ctx context.Context, b *testing.B, opts []bridge.Option, want int) time.Duration {
	br, err := bridge.New(opts...)
	if err != nil {
		b.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- br.Run(rctx) }()
	var ready, received time.Duration // subscribed; the last message arrived from MQTT
	waitFor(ctx, b, done, func() bool {
		st := br.Stats()
		if ready == 0 && br.Ready() {
			ready = time.Since(start)
		}
		if received == 0 && st.Received >= int64(want) {
			received = time.Since(start)
		}
		return br.Ready() && st.Produced >= int64(want)
	})
	took := time.Since(start)
	if want > 0 {
		b.Logf("bridge: subscribed after %v, all %d received after %v, in Kafka and acknowledged after %v (%d received in all)",
			ready.Round(time.Millisecond), want, received.Round(time.Millisecond), took.Round(time.Millisecond), br.Stats().Received)
	}
	stop()
	if err := <-done; err != nil {
		b.Fatalf("bridge: %v", err)
	}
	if want > 0 {
		logHistograms(b, br.Registry(), "citybench_bridge_batch_records", "citybench_bridge_produce_seconds",
			"citybench_bridge_queue_wait_seconds")
	}
	return took
}

// waitFor polls cond every millisecond; done reports a component that stopped.
func waitFor(ctx context.Context, b *testing.B, done <-chan error, cond func() bool) {
	for !cond() {
		select {
		case err := <-done:
			b.Fatalf("stopped early: %v", err)
		case <-ctx.Done():
			b.Fatal(ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
}

func publishBacklog(ctx context.Context, b *testing.B, ep target.Endpoints, readings []benchReading) {
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(ep.MQTTURLs[0]).SetClientID("bench-publisher").
		SetUsername(ep.MQTTUsername).SetPassword(ep.MQTTPassword).SetAutoReconnect(false))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatalf("connect publisher: %v", tok.Error())
	}
	defer c.Disconnect(100)
	toks := make([]mqtt.Token, 0, len(readings))
	for _, r := range readings {
		toks = append(toks, c.Publish(r.topic, 1, false, r.payload))
	}
	for _, tok := range toks {
		select {
		case <-tok.Done():
			if err := tok.Error(); err != nil {
				b.Fatalf("publish: %v", err)
			}
		case <-ctx.Done():
			b.Fatal(ctx.Err())
		}
	}
}

// rawProduce writes the readings as the bridge's records, grouped by partition
// with the bridge's partitioner, and returns how long the writes took.
func rawProduce(ctx context.Context, b *testing.B, opts []bridge.Option, partitionCount int, readings []benchReading) time.Duration {
	w, err := bridge.KafkaWriter(opts...)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	partitions := make([]int, partitionCount)
	for i := range partitions {
		partitions[i] = i
	}
	byPartition := make([][]kafka.Message, len(partitions))
	for _, r := range readings {
		m := kafka.Message{Topic: benchRawTopic, Key: []byte(r.device), Value: r.payload, Headers: []kafka.Header{
			{Key: bridge.HeaderSourceTopic, Value: []byte(r.topic)}, {Key: bridge.HeaderCodec, Value: []byte("json")}}}
		p := w.Balancer.Balance(m, partitions...)
		byPartition[p] = append(byPartition[p], m)
	}
	start := time.Now()
	var g errgroup.Group
	for _, msgs := range byPartition {
		g.Go(func() error {
			for len(msgs) > 0 {
				n := min(len(msgs), bridge.DefaultBatchSize)
				if err := w.WriteMessages(ctx, msgs[:n]...); err != nil {
					return err
				}
				msgs = msgs[n:]
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatalf("raw produce: %v", err)
	}
	return time.Since(start)
}

func benchSink(ctx context.Context, b *testing.B, tg *Target, ep target.Endpoints) {
	rows, total := topicRows(ctx, b, ep, tg.Topology().Partitions)
	cluster := gocql.NewCluster(tg.CassandraHosts()...)
	cluster.Keyspace = "citybench"
	cluster.Consistency = gocql.LocalQuorum
	cluster.PoolConfig.HostSelectionPolicy = gocql.TokenAwareHostPolicy(gocql.RoundRobinHostPolicy())
	session, err := cluster.CreateSession()
	if err != nil {
		b.Fatalf("gocql: %v", err)
	}
	defer session.Close()
	var raw, comp, mem time.Duration
	for i := range b.N {
		labelled("raw-write", func() { mem += rawWrite(ctx, b, session, rows) })
		alternate(i,
			func() { labelled("raw-sink", func() { raw += rawSink(ctx, b, ep, session, rows) }) },
			func() {
				labelled("sink", func() {
					comp += runSink(ctx, b, ep, fmt.Sprintf("bench-sink-%d-%d", time.Now().UnixNano(), i), total)
				})
			})
	}
	n := b.N * total
	b.ReportMetric(float64(n)/mem.Seconds(), "cassandra-only-msgs/s")
	benchReport(b, "sink", "kafka-go + gocql", n, raw, comp)
	b.Logf("sink = %.0f %% of gocql writing the same rows from memory (no Kafka)", 100*mem.Seconds()/comp.Seconds())
}

// rawSink reads every partition of the readings topic with a bare reader (the
// sink's reader settings) and writes its rows as rawWrite does, partitions side
// by side, and returns how long that took from creating the readers. rows says
// how many records each partition holds.
func rawSink(ctx context.Context, b *testing.B, ep target.Endpoints, session *gocql.Session, rows [][]store.Row) time.Duration {
	stmt := cassandra.InsertReadingCQL("citybench")
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	for part, want := range rows {
		g.Go(func() error {
			cfg, err := sink.KafkaReaderConfig(part, sink.WithKafka(ep.KafkaBrokers...), sink.WithTopic(ep.KafkaTopic),
				sink.WithCodec(codec.JSON()))
			if err != nil {
				return err
			}
			r := kafka.NewReader(cfg)
			defer r.Close()
			if err := r.SetOffset(kafka.FirstOffset); err != nil {
				return err
			}
			chunk := make([]store.Row, 0, sink.DefaultBatchSize)
			for left := len(want); left > 0; left-- {
				m, err := r.FetchMessage(gctx)
				if err != nil {
					return err
				}
				var rd codec.Reading
				if err := json.Unmarshal(m.Value, &rd); err != nil {
					return err
				}
				t := time.Unix(0, rd.SampleTimeNs).UTC()
				chunk = append(chunk, store.Row{DeviceID: rd.DeviceID, Day: store.DayOf(t), Time: t, Seq: rd.Seq, Metrics: rd.Metrics})
				if len(chunk) == sink.DefaultBatchSize || left == 1 {
					if err := rawChunk(gctx, session, stmt, chunk); err != nil {
						return err
					}
					chunk = chunk[:0]
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatalf("raw sink: %v", err)
	}
	return time.Since(start)
}

// topicRows reads every partition of the readings topic and returns its rows
// per partition, in offset order, and their count.
func topicRows(ctx context.Context, b *testing.B, ep target.Endpoints, partitions int) ([][]store.Row, int) {
	var out [][]store.Row
	total := 0
	for part := range partitions {
		var rows []store.Row
		for _, m := range readAll(ctx, b, ep.KafkaBrokers, ep.KafkaTopic, part) {
			rd, err := codec.JSON().Decode("", m.Value)
			if err != nil {
				b.Fatal(err)
			}
			t := time.Unix(0, rd.SampleTimeNs).UTC()
			row, err := store.Normalize(store.Row{DeviceID: rd.DeviceID, Day: store.DayOf(t), Time: t, Seq: rd.Seq, Metrics: rd.Metrics})
			if err != nil {
				b.Fatal(err)
			}
			rows = append(rows, row)
		}
		out = append(out, rows)
		total += len(rows)
	}
	if total == 0 {
		b.Fatal("readings topic is empty: the bridge benchmark fills it")
	}
	return out, total
}

// rawWrite writes each partition's rows from memory as the sink would: chunks
// of its batch size in order, each chunk's devices as unlogged batches written
// concurrently.
func rawWrite(ctx context.Context, b *testing.B, session *gocql.Session, rows [][]store.Row) time.Duration {
	stmt := cassandra.InsertReadingCQL("citybench")
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, len(rows))
	for _, part := range rows {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for len(part) > 0 {
				n := min(len(part), sink.DefaultBatchSize)
				if err := rawChunk(ctx, session, stmt, part[:n]); err != nil {
					errs <- err
					return
				}
				part = part[n:]
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatalf("raw write: %v", err)
	}
	return time.Since(start)
}

func rawChunk(ctx context.Context, session *gocql.Session, stmt string, rows []store.Row) error {
	byDevice := map[string][]store.Row{}
	for _, r := range rows {
		byDevice[r.DeviceID] = append(byDevice[r.DeviceID], r)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(cassandra.DefaultWriteConcurrency)
	for _, dev := range byDevice {
		g.Go(func() error {
			batch := session.Batch(gocql.UnloggedBatch)
			for _, r := range dev {
				batch.Query(stmt, r.DeviceID, r.Day, r.Time, int64(r.Seq), r.Metrics)
			}
			return batch.ExecContext(gctx)
		})
	}
	return g.Wait()
}

// runSink runs a sink in a new group until it has written want rows and returns
// how long that took from the group assignment.
func runSink(ctx context.Context, b *testing.B, ep target.Endpoints, group string, want int) time.Duration {
	s, err := sink.New(ep.Store, sink.WithKafka(ep.KafkaBrokers...), sink.WithTopic(ep.KafkaTopic),
		sink.WithGroup(group), sink.WithCodec(codec.JSON()), sink.WithLogger(benchQuiet))
	if err != nil {
		b.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(rctx) }()
	waitFor(ctx, b, done, s.Ready)
	start := time.Now()
	waitFor(ctx, b, done, func() bool { return s.Stats().Written >= int64(want) })
	took := time.Since(start)
	stop()
	if err := <-done; err != nil {
		b.Fatalf("sink: %v", err)
	}
	logHistograms(b, s.Registry(), "citybench_sink_batch_records", "citybench_sink_write_seconds",
		"citybench_sink_commit_seconds")
	return took
}

// logHistograms logs count and mean of the named histograms: where the
// component's time went.
func logHistograms(b *testing.B, reg *prometheus.Registry, names ...string) {
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, mf := range mfs {
		if !slices.Contains(names, mf.GetName()) {
			continue
		}
		for _, m := range mf.GetMetric() {
			h := m.GetHistogram()
			b.Logf("%s: count %d, mean %.4g", mf.GetName(), h.GetSampleCount(), h.GetSampleSum()/float64(max(h.GetSampleCount(), 1)))
		}
	}
}

func benchReport(b *testing.B, name, rawName string, n int, raw, comp time.Duration) {
	rawRate, rate := float64(n)/raw.Seconds(), float64(n)/comp.Seconds()
	b.ReportMetric(rate, "msgs/s")
	b.ReportMetric(rawRate, "raw-msgs/s")
	b.ReportMetric(100*rate/rawRate, "%-of-raw")
	b.Logf("%s: %.0f msgs/s; raw %s: %.0f msgs/s; %s = %.0f %% of raw (%d msgs per side)",
		name, rate, rawName, rawRate, name, 100*rate/rawRate, n)
}
