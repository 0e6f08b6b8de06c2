// Package bridge moves device readings from an MQTT broker into Kafka at least
// once: a message is acknowledged to the broker only after Kafka (acks=all) holds
// it, and payloads the codec refuses go to a dead-letter topic with the reason.
//
// # Ordering contract
//
// A device's readings reach its Kafka partition in the order this bridge's MQTT
// session received them. The record key is the device id, so one device always
// lands in one partition (Murmur2, as the Java client), and every step in between
// keeps order:
//
//   - paho delivers messages to one handler goroutine in arrival order
//     (OrderMatters true). That handler never blocks: it finds the message's
//     device and appends the message to the queue of the worker that owns the
//     device's partition. It shares its goroutine with PINGRESP and
//     acknowledgement traffic, so waiting there would starve keep-alives and
//     drop the connection under back-pressure, and every microsecond spent there
//     is spent on the one goroutine all messages pass through. A codec that is a
//     codec.DeviceFinder (JSON) names the device without decoding, and the
//     worker decodes and validates; other codecs decode in the handler.
//   - One worker per partition decodes and writes its queue in order, one
//     synchronous WriteMessages at a time, so a partition never has two of the
//     bridge's writes in flight, and retries re-send the same batch before
//     anything newer. A record is keyed by the device Decode names; the
//     DeviceFinder contract makes that the device the message was routed by.
//   - Messages are acknowledged to MQTT after Kafka acknowledged them, in order.
//
// At-least-once means a reading can be written twice: when Kafka acknowledged a
// write the bridge then timed out on, or when the bridge stops (crash, drain
// deadline) after writing and before acknowledging, the broker redelivers it. A
// repeat is a duplicate of a reading already in the partition; the first copies
// of a device's readings stay in order. Across a restart the broker resends the
// session's unacknowledged messages before newer ones in their original order
// (MQTT-4.6.0-1), so order holds as long as the broker honours that rule.
//
// Where order is not promised: the MQTT hop itself (a device publishing at QoS 0
// and 1 mixed, or on several connections), brokers that break MQTT-4.6.0-1 on
// redelivery (mochi-mqtt v2 sorts resent messages by their second of arrival), and
// several bridges in one shared-subscription group, which the broker feeds message
// by message. For order with several bridges, give each its own filter (e.g. one
// per city domain) instead of a share group.
//
// # Back-pressure
//
// The bridge never refuses or blocks MQTT delivery; what bounds its memory is the
// broker's per-session window of unacknowledged messages (Mosquitto
// max_inflight_messages, HiveMQ and EMQX max inflight, MQTT 5 Receive Maximum):
// while Kafka is slow the bridge stops acknowledging and the broker stops sending.
// Set that window; unlimited lets a backlog flow into the bridge's queues.
package bridge

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/citybench/citybench/pipeline/codec"
	"github.com/citybench/citybench/pipeline/topics"
)

// Kafka record headers written by the bridge. They are the bridge's output
// contract: the sink and anyone reading the dead-letter topic rely on them.
const (
	HeaderSourceTopic = "mqtt_topic" // MQTT topic the payload arrived on
	HeaderCodec       = "codec"      // codec name that validated (or refused) it
	HeaderLocation    = "location"   // topic-template variables, URL query encoded
	HeaderReason      = "reason"     // dead letters only: codec.RejectError.Reason
	HeaderDetail      = "detail"     // dead letters only: human readable
	HeaderStage       = "stage"      // dead letters only: which component refused it
)

// Defaults chosen for a bridge that must keep up with a city of devices.
const (
	DefaultFilter    = "#"
	DefaultTopic     = "readings"
	DefaultDLQTopic  = "readings.dlq"
	DefaultBatchSize = 500
	// The bridge hands the writer whole batches (what queued while the previous
	// write was in flight), so the writer's wait for more only delays them.
	DefaultBatchTimeout = time.Millisecond
	DefaultDrainTimeout = 10 * time.Second
	DefaultKeepAlive    = 30 * time.Second
	// DefaultWorkers applies when the readings topic's partition count cannot
	// be read at start; normally there is one worker per partition.
	DefaultWorkers = 8
	maxWorkers     = 256
)

type config struct {
	mqttURL      string
	username     string
	password     string
	tls          *tls.Config
	clientID     string
	shareGroup   string
	filter       string
	ignore       []string // filters left alone (ignore.go)
	qos          byte
	brokers      []string
	topic        string
	dlqTopic     string
	codec        codec.Codec
	routes       *topics.Router
	workers      int
	workersSet   bool
	batchSize    int
	batchTimeout time.Duration
	drainTimeout time.Duration
	keepAlive    time.Duration
	registry     *prometheus.Registry
	logger       *slog.Logger
	transport    *kafka.Transport
}

// Option configures a Bridge.
type Option func(*config)

// WithMQTT sets the broker URL, e.g. "tcp://127.0.0.1:1883" or "ssl://host:8883"
// (TCP or TLS; New refuses other schemes).
func WithMQTT(url string) Option { return func(c *config) { c.mqttURL = url } }

// WithCredentials sets the MQTT username and password.
func WithCredentials(user, pass string) Option {
	return func(c *config) { c.username, c.password = user, pass }
}

// WithTLS sets the TLS configuration for the MQTT connection.
func WithTLS(t *tls.Config) Option { return func(c *config) { c.tls = t } }

// WithClientID fixes the MQTT client id. It must be stable across restarts of the
// same bridge instance (the broker keeps its session and unacknowledged messages
// under it) and unique among instances.
func WithClientID(id string) Option { return func(c *config) { c.clientID = id } }

// WithShareGroup subscribes as $share/<group>/<filter> so several bridges split
// the stream. Empty means a plain subscription.
func WithShareGroup(g string) Option { return func(c *config) { c.shareGroup = g } }

// WithFilter sets the MQTT topic filter (default "#").
func WithFilter(f string) Option { return func(c *config) { c.filter = f } }

// WithQoS sets the subscription QoS (default 1; 0 gives up at-least-once).
func WithQoS(q byte) Option { return func(c *config) { c.qos = q } }

// WithKafka sets the Kafka bootstrap brokers.
func WithKafka(brokers ...string) Option {
	return func(c *config) { c.brokers = append([]string(nil), brokers...) }
}

// WithTopic sets the default Kafka topic for readings.
func WithTopic(t string) Option { return func(c *config) { c.topic = t } }

// WithDeadLetterTopic sets the Kafka topic for refused payloads.
func WithDeadLetterTopic(t string) Option { return func(c *config) { c.dlqTopic = t } }

// WithCodec sets the codec that validates payloads (required).
func WithCodec(cd codec.Codec) Option { return func(c *config) { c.codec = cd } }

// WithRoutes maps MQTT topics to Kafka topics (default: everything to the
// topic). A route's template variables travel to the sink as the device's
// location; an MQTT topic no route takes is dead-lettered as "unroutable".
func WithRoutes(r *topics.Router) Option { return func(c *config) { c.routes = r } }

// WithWorkers sets how many goroutines write batches to Kafka concurrently.
// Records are spread over them by the hash that picks their partition, so a
// device's records always go through one worker. The default is one worker per
// partition of the readings topic, read when Run starts (DefaultWorkers if that
// fails): each partition then has exactly one write in flight, and what arrives
// meanwhile forms its next batch.
func WithWorkers(n int) Option { return func(c *config) { c.workers, c.workersSet = n, true } }

// WithBatch sets the largest batch one worker hands to Kafka and how long the
// Kafka writer waits to fill a batch.
func WithBatch(size int, timeout time.Duration) Option {
	return func(c *config) { c.batchSize, c.batchTimeout = size, timeout }
}

// WithDrainTimeout bounds how long Run spends finishing in-flight messages after
// its context ends.
func WithDrainTimeout(d time.Duration) Option { return func(c *config) { c.drainTimeout = d } }

// WithKeepAlive sets the MQTT keep-alive interval (default DefaultKeepAlive).
func WithKeepAlive(d time.Duration) Option { return func(c *config) { c.keepAlive = d } }

// WithRegistry registers the bridge's metrics on reg (default: its own registry).
func WithRegistry(reg *prometheus.Registry) Option { return func(c *config) { c.registry = reg } }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithKafkaTransport replaces the Kafka transport (TLS, SASL, dial timeouts).
// Keep its MetadataTTL short (see MetadataTTL).
func WithKafkaTransport(t *kafka.Transport) Option { return func(c *config) { c.transport = t } }

// Stats are the bridge's counters since it started.
type Stats struct {
	Received     int64
	Produced     int64
	DeadLettered int64
	Errors       int64
	Inflight     int64
	// ConnectionsLost counts MQTT connections lost (keep-alive timeouts included).
	ConnectionsLost int64
	// Ignored counts messages on topics WithIgnore named, acknowledged unbridged.
	Ignored int64
}

// Bridge is one MQTT→Kafka bridge instance. Create with New, then Run.
type Bridge struct {
	cfg     config
	writer  *kafka.Writer
	metrics *metrics

	queues   []*intake // one per worker, chosen by the record's partition hash
	shardIDs []int     // 0..len(queues)-1, for shardBalancer
	stopping chan struct{}
	stopOnce sync.Once

	received, produced, deadLettered, errs, inflight, connectionsLost, ignoredN atomic.Int64

	ready atomic.Bool
}

// New validates the options and prepares a bridge; it opens no connection.
func New(opts ...Option) (*Bridge, error) {
	cfg := config{
		filter:       DefaultFilter,
		qos:          1,
		topic:        DefaultTopic,
		dlqTopic:     DefaultDLQTopic,
		workers:      DefaultWorkers,
		batchSize:    DefaultBatchSize,
		batchTimeout: DefaultBatchTimeout,
		drainTimeout: DefaultDrainTimeout,
		keepAlive:    DefaultKeepAlive,
	}
	for _, o := range opts {
		o(&cfg)
	}
	var errs []error
	if cfg.mqttURL == "" {
		errs = append(errs, errors.New("no MQTT broker URL"))
	} else if err := checkMQTTURL(cfg.mqttURL); err != nil {
		errs = append(errs, err)
	}
	if len(cfg.brokers) == 0 {
		errs = append(errs, errors.New("no Kafka brokers"))
	}
	if cfg.codec == nil {
		errs = append(errs, errors.New("no codec"))
	}
	if cfg.topic == "" || cfg.dlqTopic == "" {
		errs = append(errs, errors.New("empty Kafka topic or dead-letter topic"))
	}
	if cfg.qos > 2 {
		errs = append(errs, fmt.Errorf("QoS %d out of range", cfg.qos))
	}
	if err := validateIgnore(cfg.ignore); err != nil {
		errs = append(errs, fmt.Errorf("ignore filter: %w", err))
	}
	if cfg.workers < 1 || cfg.batchSize < 1 || cfg.keepAlive < time.Second {
		errs = append(errs, errors.New("workers and batch size must be positive, keep-alive at least 1s"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("bridge config: %w", err)
	}
	if cfg.clientID == "" {
		// A per-host default keeps the id stable across restarts of one container
		// and distinct between replicas.
		host, _ := os.Hostname()
		cfg.clientID = "citybench-bridge-" + host
	}
	if cfg.logger == nil {
		cfg.logger = slog.Default()
	}
	if cfg.registry == nil {
		cfg.registry = prometheus.NewRegistry()
	}
	m, err := newMetrics(cfg.registry)
	if err != nil {
		return nil, err
	}
	b := &Bridge{
		cfg:      cfg,
		metrics:  m,
		stopping: make(chan struct{}),
	}
	b.writer = newWriter(cfg)
	return b, nil
}

// KafkaWriter returns the Kafka writer a bridge built with opts would use, to
// measure the bare client with the bridge's settings beside the bridge. The
// caller closes it.
func KafkaWriter(opts ...Option) (*kafka.Writer, error) {
	b, err := New(opts...)
	if err != nil {
		return nil, err
	}
	return b.writer, nil
}

// newWriter configures kafka-go deliberately: its defaults (no acks, 1 s batch
// wait) would lose data and add a second of latency.
func newWriter(cfg config) *kafka.Writer {
	w := &kafka.Writer{
		Addr: kafka.TCP(cfg.brokers...),
		// Hashing the key (device id) keeps each device on one partition, so
		// consumers see its readings in the order the bridge wrote them. Murmur2 is
		// the Java client's default partitioner: a device lands on the same
		// partition whichever client produced it. The MQTT hop itself does not
		// promise order (QoS 1 redelivery, concurrent handlers); the envelope's
		// seq lets consumers tell.
		Balancer:     &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll,
		BatchSize:    cfg.batchSize,
		BatchBytes:   4 << 20,
		BatchTimeout: cfg.batchTimeout,
		// The writer gives up quickly; writeWithRetry keeps trying until the
		// context ends so nothing is acknowledged to MQTT that is not in Kafka.
		MaxAttempts:     3,
		WriteBackoffMin: 20 * time.Millisecond,
		WriteBackoffMax: 500 * time.Millisecond,
		ReadTimeout:     10 * time.Second,
		WriteTimeout:    10 * time.Second,
		// Topics are provisioned with their replication factor; auto-creating
		// them with broker defaults would hide a misconfiguration.
		AllowAutoTopicCreation: false,
	}
	if cfg.transport != nil {
		w.Transport = cfg.transport
	} else {
		w.Transport = newTransport()
	}
	return w
}

// MetadataTTL bounds how long kafka-go routes writes on stale partition
// leaders. kafka-go refreshes metadata only on this timer, never on
// NOT_LEADER_FOR_PARTITION (kafka-go issues 1221 and 1413), so after a leader
// change, e.g. a broker restart, every write fails until the next refresh; at
// the 30 s we started with that stalled the bridge for seconds. A refresh is one
// small Metadata request.
const MetadataTTL = 2 * time.Second

func newTransport() *kafka.Transport {
	return &kafka.Transport{DialTimeout: 5 * time.Second, MetadataTTL: MetadataTTL}
}

// Registry returns the registry holding the bridge's metrics.
func (b *Bridge) Registry() *prometheus.Registry { return b.cfg.registry }

// Ready reports whether the bridge is subscribed and moving messages.
func (b *Bridge) Ready() bool { return b.ready.Load() }

// Stats returns the counters.
func (b *Bridge) Stats() Stats {
	return Stats{
		Received:     b.received.Load(),
		Produced:     b.produced.Load(),
		DeadLettered: b.deadLettered.Load(),
		Errors:       b.errs.Load(),
		Inflight:     b.inflight.Load(),

		ConnectionsLost: b.connectionsLost.Load(),
		Ignored:         b.ignoredN.Load(),
	}
}

// Subscription returns the filter the bridge subscribes to.
func (b *Bridge) Subscription() string {
	if b.cfg.shareGroup == "" {
		return b.cfg.filter
	}
	return "$share/" + b.cfg.shareGroup + "/" + b.cfg.filter
}

// Run connects, subscribes and bridges until ctx ends, then stops taking new
// messages and finishes those in flight within the drain timeout. Messages not
// finished are left unacknowledged: the broker redelivers them to this session
// (or another member of the share group) later.
func (b *Bridge) Run(ctx context.Context) error {
	defer b.ready.Store(false)
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()

	workers := b.cfg.workers
	if !b.cfg.workersSet {
		workers = b.partitionCount(ctx)
	}
	b.queues = make([]*intake, workers)
	b.shardIDs = make([]int, workers)
	var wg sync.WaitGroup
	for i := range b.queues {
		b.queues[i] = newIntake(b.metrics.queued.WithLabelValues(strconv.Itoa(i)))
		b.shardIDs[i] = i
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.work(workCtx, b.queues[i])
		}()
	}

	client, err := b.connect(ctx)
	if err != nil {
		b.stop()
		cancelWork()
		wg.Wait()
		return errors.Join(err, b.writer.Close())
	}
	b.cfg.logger.Info("bridge running", "subscription", b.Subscription(), "client_id", b.cfg.clientID)

	<-ctx.Done()
	b.ready.Store(false)
	b.stop()
	// Drain: workers finish what is queued; the deadline cancels Kafka retries so
	// shutdown is bounded.
	drained := make(chan struct{})
	go func() {
		for b.queued() > 0 || b.inflight.Load() > 0 {
			select {
			case <-workCtx.Done():
				close(drained)
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
		close(drained)
	}()
	timer := time.NewTimer(b.cfg.drainTimeout)
	select {
	case <-drained:
	case <-timer.C:
		b.cfg.logger.Warn("bridge drain deadline reached", "inflight", b.inflight.Load())
	}
	timer.Stop()
	cancelWork()
	wg.Wait()
	client.Disconnect(250)
	if err := b.writer.Close(); err != nil {
		return fmt.Errorf("bridge: close kafka writer: %w", err)
	}
	b.cfg.logger.Info("bridge stopped", "received", b.received.Load(), "produced", b.produced.Load(),
		"dead_lettered", b.deadLettered.Load(), "abandoned_inflight", b.inflight.Load())
	return nil
}

func (b *Bridge) stop() { b.stopOnce.Do(func() { close(b.stopping) }) }

func (b *Bridge) connect(ctx context.Context) (mqtt.Client, error) {
	opts := mqtt.NewClientOptions().
		AddBroker(b.cfg.mqttURL).
		SetClientID(b.cfg.clientID).
		SetUsername(b.cfg.username).
		SetPassword(b.cfg.password).
		// A persistent session makes the broker keep our subscription and queue
		// messages while the bridge is down.
		SetCleanSession(false).
		SetAutoAckDisabled(true).
		// With a persistent session the broker sends what it queued right after
		// CONNACK, before OnConnect has subscribed again: paho drops a message no
		// route matches, unacknowledged, so without a default handler a restarted
		// bridge would leave its backlog stuck at the broker until it reconnects.
		SetDefaultPublishHandler(b.handle).
		// One handler goroutine in arrival order: the ordering contract starts
		// here. handle never blocks, so keep-alives and acks keep flowing.
		SetOrderMatters(true).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(10 * time.Second).
		SetKeepAlive(b.cfg.keepAlive).
		SetPingTimeout(min(10*time.Second, b.cfg.keepAlive)).
		SetConnectTimeout(10 * time.Second).
		// Gathers paho's one-packet writes (a PUBACK per message) into one
		// write(2) each time the previous returns (mqttconn.go).
		SetCustomOpenConnectionFn(openMQTTConn).
		SetOnConnectHandler(func(c mqtt.Client) {
			// Re-subscribing on every connect is harmless with a persistent session
			// and repairs a session the broker lost.
			tok := c.Subscribe(b.Subscription(), b.cfg.qos, b.handle)
			if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
				b.cfg.logger.Error("bridge subscribe failed", "subscription", b.Subscription(), "err", tok.Error())
				b.errs.Add(1)
				b.metrics.errors.WithLabelValues("subscribe").Inc()
				return
			}
			b.ready.Store(true)
		}).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			b.ready.Store(false)
			b.connectionsLost.Add(1)
			b.metrics.connectionLost.Inc()
			b.cfg.logger.Warn("bridge lost MQTT connection", "err", err)
		})
	if b.cfg.tls != nil {
		opts.SetTLSConfig(b.cfg.tls)
	}
	client := mqtt.NewClient(opts)
	tok := client.Connect()
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return nil, fmt.Errorf("bridge: connect to %s: %w", b.cfg.mqttURL, err)
		}
	case <-ctx.Done():
		client.Disconnect(0)
		return nil, fmt.Errorf("bridge: connect to %s: %w", b.cfg.mqttURL, ctx.Err())
	}
	return client, nil
}

// handle runs on paho's router goroutine, once per message in arrival order
// (OrderMatters true). It must not block: the same goroutine's progress carries
// keep-alive responses and acknowledgements, so it only decodes and queues.
func (b *Bridge) handle(_ mqtt.Client, m mqtt.Message) {
	if strings.HasPrefix(m.Topic(), "$") {
		// MQTT-4.7.2-1: wildcards never match $-topics, yet some brokers (mochi)
		// deliver their $SYS statistics to "#". They are the broker's, not a
		// device's, so they are acknowledged and counted, not bridged.
		b.metrics.ignored.Inc()
		m.Ack()
		return
	}
	if b.ignores(m.Topic()) {
		b.ignoredN.Add(1)
		b.metrics.ignoredControl.Inc()
		m.Ack()
		return
	}
	select {
	case <-b.stopping:
		return // left unacknowledged on purpose: redelivered later, in order
	default:
	}
	b.received.Add(1)
	b.metrics.received.Inc()
	b.inflight.Add(1)
	b.metrics.inflight.Inc()
	p := pending{msg: m, at: time.Now()}
	if f, ok := b.cfg.codec.(codec.DeviceFinder); ok {
		// Routing needs only the device: the worker decodes and validates.
		p.rec.Key, ok = f.FindDevice(m.Topic(), m.Payload())
		p.built = !ok
	} else {
		p.built = true
	}
	if p.built {
		var ok bool
		p.rec, ok = b.toRecord(m.Topic(), m.Payload())
		p.dead = !ok
	}
	b.queues[shardBalancer.Balance(p.rec, b.shardIDs...)].push(p)
}

// pending is a received message and the Kafka record made of it. Until built,
// rec holds only the key the message was routed by.
type pending struct {
	msg   mqtt.Message
	rec   kafka.Message
	built bool      // rec is the record (validated), not only its key
	dead  bool      // rec is a dead letter
	at    time.Time // received from MQTT
}

// build decodes and validates what the handler only routed. A reading's
// record is keyed by the device Decode names; DeviceFinder promises that is
// the key the message was routed by.
func (b *Bridge) build(batch []pending) {
	for i := range batch {
		if p := &batch[i]; !p.built {
			var ok bool
			p.rec, ok = b.toRecord(p.msg.Topic(), p.msg.Payload())
			p.built, p.dead = true, !ok
		}
	}
}

// intake is one worker's queue. push never blocks (the MQTT handler must not);
// the broker's window of unacknowledged messages bounds its length.
type intake struct {
	mu     sync.Mutex
	items  []pending
	head   int
	wake   chan struct{} // one token: "items arrived since you last looked"
	queued prometheus.Gauge
}

func newIntake(queued prometheus.Gauge) *intake {
	return &intake{wake: make(chan struct{}, 1), queued: queued}
}

func (q *intake) push(p pending) {
	q.mu.Lock()
	q.items = append(q.items, p)
	q.mu.Unlock()
	q.queued.Inc()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// take appends up to n of the oldest items to buf and removes them.
func (q *intake) take(buf []pending, n int) []pending {
	q.mu.Lock()
	defer q.mu.Unlock()
	k := min(n, len(q.items)-q.head)
	buf = append(buf, q.items[q.head:q.head+k]...)
	clear(q.items[q.head : q.head+k])
	q.head += k
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	} else if q.head > len(q.items)/2 {
		q.items, q.head = append(q.items[:0], q.items[q.head:]...), 0
	}
	return buf
}

func (q *intake) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items) - q.head
}

// shardBalancer picks a record's worker with the writer's partitioner. With one
// worker per partition a worker's records all land in one partition, so no
// partition ever has more than one of the bridge's writes in flight.
//
// Why it matters: kafka-go writes one batch at a time per partition, and a
// synchronous WriteMessages returns only when the batch of every partition it
// touched is written. Eight workers sharing one queue each wrote a few records
// to every partition, so each partition had up to eight small batches queued
// behind one another and every call waited for the slowest partition: with
// acks=all round trips of 20-500 ms on a loaded host a batch took ~1.5 s and the
// bridge only just kept up with 200 msg/s.
var shardBalancer = &kafka.Murmur2Balancer{}

func (b *Bridge) queued() int {
	n := 0
	for _, q := range b.queues {
		n += q.len()
	}
	return n
}

// partitionCount reads how many partitions the readings topic has, falling back
// to DefaultWorkers.
func (b *Bridge) partitionCount(ctx context.Context) int {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c := &kafka.Client{Addr: b.writer.Addr, Transport: b.writer.Transport}
	res, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{b.cfg.topic}})
	if err == nil && len(res.Topics) == 1 && res.Topics[0].Error == nil && len(res.Topics[0].Partitions) > 0 {
		return min(len(res.Topics[0].Partitions), maxWorkers)
	}
	if err == nil && len(res.Topics) == 1 {
		err = res.Topics[0].Error
	}
	b.cfg.logger.Warn("bridge: partition count unknown, using the default worker count",
		"topic", b.cfg.topic, "workers", DefaultWorkers, "err", err)
	return DefaultWorkers
}

func (b *Bridge) release(n int) {
	b.inflight.Add(int64(-n))
	b.metrics.inflight.Sub(float64(n))
}

// work writes its queue to Kafka in order, one batch at a time: whatever queued
// while the previous write was in flight, up to the batch size. A second
// goroutine acknowledges written batches to MQTT, in order, so the next write
// does not wait for hundreds of acknowledgements to pass through paho.
func (b *Bridge) work(ctx context.Context, queue *intake) {
	written := make(chan written, 2)
	acked := make(chan struct{})
	go func() {
		defer close(acked)
		for w := range written {
			b.acknowledge(w)
		}
	}()
	defer func() {
		close(written)
		<-acked
	}()
	for {
		batch := queue.take(make([]pending, 0, b.cfg.batchSize), b.cfg.batchSize)
		if len(batch) == 0 {
			select {
			case <-queue.wake:
				continue
			case <-ctx.Done():
				return
			}
		}
		queue.queued.Sub(float64(len(batch)))
		b.metrics.batchRecords.Observe(float64(len(batch)))
		b.metrics.queueWait.Observe(time.Since(batch[0].at).Seconds())
		b.build(batch)
		written <- b.write(ctx, batch)
	}
}

// written is a batch after its Kafka write; failed[i] means batch[i] is not in
// Kafka.
type written struct {
	batch  []pending
	failed []bool
}

// write writes one batch to Kafka, retrying until it is in or ctx ends.
func (b *Bridge) write(ctx context.Context, batch []pending) written {
	records := make([]kafka.Message, len(batch))
	for i, p := range batch {
		records[i] = p.rec
	}
	start := time.Now()
	failed := b.writeWithRetry(ctx, records)
	b.metrics.produceLatency.Observe(time.Since(start).Seconds())
	return written{batch: batch, failed: failed}
}

// acknowledge acknowledges to MQTT each message of a batch that Kafka holds.
func (b *Bridge) acknowledge(w written) {
	for i, p := range w.batch {
		if w.failed[i] {
			continue // not in Kafka: must not be acknowledged
		}
		p.msg.Ack()
		if p.dead {
			b.deadLettered.Add(1)
			b.metrics.deadLettered.Inc()
		} else {
			b.produced.Add(1)
			b.metrics.produced.Inc()
		}
	}
	b.release(len(w.batch))
}

// toRecord validates one payload and builds its Kafka record: the reading keyed by
// device id, or a dead letter carrying the reason. ok is false for dead letters.
func (b *Bridge) toRecord(topic string, payload []byte) (kafka.Message, bool) {
	headers := []kafka.Header{
		{Key: HeaderSourceTopic, Value: []byte(topic)},
		{Key: HeaderCodec, Value: []byte(b.cfg.codec.Name())},
	}
	dest := b.cfg.topic
	var vars map[string]string
	if b.cfg.routes != nil {
		match, ok := b.cfg.routes.Route(topic)
		if !ok {
			return b.deadLetter(topic, payload, headers, "unroutable", "no route takes MQTT topic "+topic), false
		}
		dest, vars = match.KafkaTopic, match.Vars
	}
	r, err := b.cfg.codec.Decode(topic, payload)
	if err != nil {
		reason := codec.Reason(err)
		if reason == "" {
			reason = "malformed"
		}
		return b.deadLetter(topic, payload, headers, reason, err.Error()), false
	}
	if loc := location(vars); loc != nil {
		headers = append(headers, kafka.Header{Key: HeaderLocation, Value: loc})
	}
	return kafka.Message{Topic: dest, Key: []byte(r.DeviceID), Value: payload, Headers: headers}, true
}

// location encodes a topic's template variables, the metric name aside (it says
// what was measured, not where).
func location(vars map[string]string) []byte {
	v := url.Values{}
	for k, val := range vars {
		if k != topics.MetricVar {
			v.Set(k, val)
		}
	}
	if len(v) == 0 {
		return nil
	}
	return []byte(v.Encode())
}

func (b *Bridge) deadLetter(topic string, payload []byte, headers []kafka.Header, reason, detail string) kafka.Message {
	headers = append(headers,
		kafka.Header{Key: HeaderReason, Value: []byte(reason)},
		kafka.Header{Key: HeaderDetail, Value: []byte(detail)},
		kafka.Header{Key: HeaderStage, Value: []byte("bridge")},
	)
	// Keyed by source topic so one broken publisher's letters stay together.
	return kafka.Message{Topic: b.cfg.dlqTopic, Key: []byte(topic), Value: payload, Headers: headers}
}

// writeWithRetry writes records until each is in Kafka or ctx ends, retrying only
// the records that failed. It returns which records never made it.
func (b *Bridge) writeWithRetry(ctx context.Context, records []kafka.Message) []bool {
	failed := make([]bool, len(records))
	pending := make([]int, len(records))
	for i := range pending {
		pending[i] = i
	}
	backoff := 50 * time.Millisecond
	start := time.Now()
	for attempt := 0; ; attempt++ {
		msgs := make([]kafka.Message, len(pending))
		for j, i := range pending {
			msgs[j] = records[i]
		}
		err := b.writer.WriteMessages(ctx, msgs...)
		if err == nil {
			if attempt > 0 {
				b.cfg.logger.Info("bridge kafka write recovered", "attempts", attempt+1, "took", time.Since(start))
			}
			return failed
		}
		b.errs.Add(1)
		b.metrics.errors.WithLabelValues("produce").Inc()
		var werrs kafka.WriteErrors
		if errors.As(err, &werrs) && len(werrs) == len(pending) {
			next := pending[:0:0]
			for j, e := range werrs {
				if e != nil {
					next = append(next, pending[j])
				}
			}
			pending = next
		}
		if len(pending) == 0 {
			return failed
		}
		b.cfg.logger.Debug("bridge kafka write failed", "attempt", attempt+1, "err", err)
		if attempt%20 == 0 {
			b.cfg.logger.Warn("bridge kafka write failed, retrying", "records", len(pending), "attempt", attempt+1, "err", err)
		}
		select {
		case <-ctx.Done():
			for _, i := range pending {
				failed[i] = true
			}
			return failed
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, time.Second)
	}
}

type metrics struct {
	received       prometheus.Counter
	ignored        prometheus.Counter
	ignoredControl prometheus.Counter
	produced       prometheus.Counter
	deadLettered   prometheus.Counter
	errors         *prometheus.CounterVec
	inflight       prometheus.Gauge
	produceLatency prometheus.Histogram
	queued         *prometheus.GaugeVec
	batchRecords   prometheus.Histogram
	queueWait      prometheus.Histogram
	connectionLost prometheus.Counter
}

func newMetrics(reg *prometheus.Registry) (*metrics, error) {
	m := &metrics{
		received: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "citybench_bridge_received_total", Help: "MQTT messages received."}),
		ignored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "citybench_bridge_ignored_system_total", Help: "Broker $-topic messages acknowledged without bridging."}),
		ignoredControl: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "citybench_bridge_ignored_total", Help: "Messages on topics the bridge is configured to ignore (the device control plane), acknowledged without bridging."}),
		produced: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "citybench_bridge_produced_total", Help: "Readings written to Kafka and acknowledged to MQTT."}),
		deadLettered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "citybench_bridge_dead_lettered_total", Help: "Payloads refused by the codec and written to the dead-letter topic."}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "citybench_bridge_errors_total", Help: "Failed operations by kind."}, []string{"op"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "citybench_bridge_inflight", Help: "Messages received from MQTT and not yet acknowledged."}),
		produceLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "citybench_bridge_produce_seconds",
			Help:    "Time to write one batch to Kafka with acks=all, retries included.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}),
		// With one worker per partition (the default) the label is the readings
		// topic's partition; the gauge is that partition's backlog in the bridge.
		queued: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "citybench_bridge_partition_queued",
			Help: "Messages received from MQTT and waiting for their partition's next Kafka write."}, []string{"partition"}),
		batchRecords: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "citybench_bridge_batch_records",
			Help:    "Records per Kafka write (one partition's queue at the time of the write).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12)}),
		queueWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "citybench_bridge_queue_wait_seconds",
			Help:    "Age of a batch's oldest message when its Kafka write starts.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18)}),
		connectionLost: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "citybench_bridge_mqtt_connection_lost_total", Help: "MQTT connections lost (keep-alive timeouts included)."}),
	}
	for _, c := range []prometheus.Collector{m.received, m.ignored, m.ignoredControl, m.produced, m.deadLettered, m.errors, m.inflight,
		m.produceLatency, m.queued, m.batchRecords, m.queueWait, m.connectionLost} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("bridge metrics: %w", err)
		}
	}
	return m, nil
}

// ParseLocation decodes a HeaderLocation value.
func ParseLocation(v []byte) map[string]string {
	q, err := url.ParseQuery(string(v))
	if err != nil || len(q) == 0 {
		return nil
	}
	out := make(map[string]string, len(q))
	for k, vals := range q {
		out[k] = strings.Join(vals, ",")
	}
	return out
}
