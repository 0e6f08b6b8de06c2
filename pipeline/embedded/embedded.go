// Package embedded runs the whole reference pipeline in one process: a mochi-mqtt
// broker, a franz-go kfake Kafka cluster (three brokers by default), the real
// bridge, sink and web API, and the in-memory store, all on random loopback ports. It exists for
// fast tests and zero-setup runs; it says nothing about production capacity.
package embedded

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/citybench/citybench/pipeline/api"
	"github.com/citybench/citybench/pipeline/bridge"
	"github.com/citybench/citybench/pipeline/codec"
	"github.com/citybench/citybench/pipeline/pki"
	"github.com/citybench/citybench/pipeline/sink"
	"github.com/citybench/citybench/pipeline/store/memory"
	"github.com/citybench/citybench/pipeline/topics"
)

// Defaults.
const (
	DefaultPartitions   = 6
	DefaultTopic        = "readings"
	DefaultDLQTopic     = DefaultTopic + dlqSuffix
	DefaultKafkaBrokers = 3
	dlqSuffix           = ".dlq"
	// maxReplication is the replication factor a cluster of at least that many
	// brokers gets by default.
	maxReplication = 3
)

type config struct {
	partitions   int
	kafkaBrokers int
	replication  int // 0: min(3, kafkaBrokers)
	topic        string
	codec        codec.Codec
	logger       *slog.Logger
	bridges      int
	sinks        int
	readyWait    time.Duration
	template     topics.Template
	ignore       []string // topic filters the bridges leave alone
	tls          bool
	password     bool
	// sinkMaxWriteRate caps each sink instance's store writes (rows/s, 0: none).
	sinkMaxWriteRate float64
	// retention bounds what Kafka and the store keep (0: everything).
	retention   time.Duration
	connections int // client connections the broker is sized for (0: a few)
}

// Option configures Start.
type Option func(*config)

// WithPartitions sets the partition count of the readings topic.
func WithPartitions(n int) Option { return func(c *config) { c.partitions = n } }

// WithKafkaBrokers sets the number of brokers of the kfake cluster (default 3).
func WithKafkaBrokers(n int) Option { return func(c *config) { c.kafkaBrokers = n } }

// WithReplicationFactor sets the topics' replication factor (default 3, or the
// broker count if lower). kfake keeps one copy of each partition: the factor is
// what metadata lists, not extra copies.
func WithReplicationFactor(n int) Option { return func(c *config) { c.replication = n } }

// WithTopic sets the readings topic (default readings); dead letters go to
// topic + ".dlq".
func WithTopic(name string) Option { return func(c *config) { c.topic = name } }

// WithCodec sets the payload codec (default JSON).
func WithCodec(cd codec.Codec) Option { return func(c *config) { c.codec = cd } }

// WithLogger sets the logger for every component (default: discard).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithTopicTemplate makes the bridges route only topics of the city's layout
// (others become "unroutable" dead letters) and attach each topic's variables as
// the device's location. Pair it with a codec configured for the same template
// when the codec reads identity from topics (text, protobuf Environment).
func WithTopicTemplate(t topics.Template) Option { return func(c *config) { c.template = t } }

// WithIgnoredTopics makes the bridges acknowledge, without bridging, messages on
// topics matching these filters: the devices' control plane.
func WithIgnoredTopics(filters ...string) Option {
	return func(c *config) { c.ignore = append(c.ignore, filters...) }
}

// WithTLS serves MQTT over mutual TLS only (ssl://): a fresh in-memory CA signs
// the broker's certificate and one client certificate, which the bridges use
// and Pipeline.ClientTLS hands to devices and taps.
func WithTLS() Option { return func(c *config) { c.tls = true } }

// WithPassword makes the broker refuse clients without the username and password
// it generates at start (Pipeline.MQTTUsername and MQTTPassword), as a city's
// production broker — and the alert-based testbench's — would.
func WithPassword() Option { return func(c *config) { c.password = true } }

// WithBridges runs n bridge instances in one MQTT share group (default 1).
func WithBridges(n int) Option { return func(c *config) { c.bridges = n } }

// WithSinkMaxWriteRate caps each sink instance's store writes at rows/s (the
// sink's own setting, as a deployment would configure it).
func WithSinkMaxWriteRate(rowsPerSecond float64) Option {
	return func(c *config) { c.sinkMaxWriteRate = rowsPerSecond }
}

// WithRetention keeps what a production deployment keeps instead of everything:
// the topics get retention.ms = d and the store's readings a time to live of d
// (Cassandra's default_time_to_live), both enforced every retentionCheck(d) as
// Kafka's log.retention.check.interval.ms would. Without it the process holds
// every record and reading for its whole life. A consumer that falls more than d
// behind skips what expired, as it would on a real cluster.
func WithRetention(d time.Duration) Option { return func(c *config) { c.retention = max(d, 0) } }

// retentionCheck is how often retention is enforced: often enough that the
// process holds little more than d, not so often that the scans cost CPU.
func retentionCheck(d time.Duration) time.Duration {
	return min(max(d/10, 100*time.Millisecond), 5*time.Second)
}

// WithConnections sizes the broker for about n client connections (devices,
// bridges, taps). See writeQueue for what that sets.
func WithConnections(n int) Option { return func(c *config) { c.connections = n } }

// WriteQueueBudget is what the broker's per-connection write queues may take
// together. mochi allocates every connection's queue of packets waiting to be
// written in full when the client connects (8 B a slot, used or not): at the
// protocol's 65,535 slots that was 512 KiB for each of 5,000 devices — 2.4 GiB
// — although only subscribers that take every device's stream (the bridges and
// a broker tap) ever fill theirs.
const WriteQueueBudget = 128 << 20

// writeQueue is the per-connection write queue for the expected connections:
// 65,535 slots (the packet-id space) up to 256 connections, shrinking so all of
// them fit WriteQueueBudget, never below mochi's default receive maximum of
// 1,024. A subscriber whose queue overflows loses messages; the broker counts
// them (MessagesDropped), and a run on this target reports them.
func writeQueue(connections int) int32 {
	const deepest, shallowest = 65535, 1024
	if connections <= 0 {
		return deepest
	}
	return int32(min(max(WriteQueueBudget/8/connections, shallowest), deepest))
}

// WithSinks runs n sink instances in one consumer group (default 1).
func WithSinks(n int) Option { return func(c *config) { c.sinks = n } }

// Pipeline is a running embedded pipeline. Its exported fields are its public
// endpoints; they do not change for its lifetime.
type Pipeline struct {
	MQTTURL         string
	KafkaBrokers    []string
	Topic           string
	DeadLetterTopic string
	// SinkGroup is the sinks' Kafka consumer group: its lag is the sinks' backlog.
	SinkGroup string
	APIURL    string
	// ClientTLS is the client configuration (CA and client certificate) for the
	// broker when started WithTLS; nil otherwise. Clone it before changing it.
	ClientTLS *tls.Config
	// MQTTUsername and MQTTPassword are the broker's only credentials when
	// started WithPassword; empty otherwise.
	MQTTUsername string
	MQTTPassword string
	// Store is what the sinks write and the API reads; it can Stall.
	Store *memory.Store
	Sinks []*sink.Sink

	cfg      config
	broker   *mochi.Server
	dataDir  string
	ports    []int
	apiSrv   *http.Server
	registry *prometheus.Registry

	kafkaMu          sync.Mutex
	kafka            *kfake.Cluster // nil while stopped
	kafkaExpiredSeen int64          // kafkaExpired's last reading

	bridgeMu   sync.Mutex
	bridges    []*bridge.Bridge // running and stopped, for cumulative counters
	bridgeStop context.CancelFunc
	bridgeWG   sync.WaitGroup

	sinkMu        sync.Mutex
	sinks         []*sink.Sink // running and stopped, for cumulative counters
	sinkStop      context.CancelFunc
	sinkWG        sync.WaitGroup
	retentionStop context.CancelFunc
	retentionWG   sync.WaitGroup
	runErrMu      sync.Mutex
	runErrs       []error
	closeOnce     sync.Once
	closeErr      error
}

// Start brings every component up and returns once the bridges are subscribed
// and the sinks hold their partitions, so nothing published afterwards is lost
// for want of a subscriber. On error everything started so far is torn down.
func Start(ctx context.Context, opts ...Option) (_ *Pipeline, err error) {
	cfg := config{partitions: DefaultPartitions, kafkaBrokers: DefaultKafkaBrokers, topic: DefaultTopic, bridges: 1, sinks: 1, readyWait: 30 * time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.replication == 0 {
		cfg.replication = min(maxReplication, cfg.kafkaBrokers)
	}
	if cfg.codec == nil {
		cfg.codec = codec.JSON()
	}
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.DiscardHandler)
	}
	if cfg.partitions < 1 || cfg.bridges < 1 || cfg.sinks < 1 || cfg.kafkaBrokers < 1 || cfg.replication < 1 {
		return nil, errors.New("embedded: partitions, kafka brokers, replication factor, bridges and sinks must be positive")
	}
	if cfg.replication > cfg.kafkaBrokers {
		return nil, fmt.Errorf("embedded: replication factor %d exceeds the %d Kafka brokers", cfg.replication, cfg.kafkaBrokers)
	}
	if cfg.topic == "" {
		return nil, errors.New("embedded: empty Kafka topic")
	}
	p := &Pipeline{
		Topic:           cfg.topic,
		DeadLetterTopic: cfg.topic + dlqSuffix,
		SinkGroup:       sink.DefaultGroup,
		Store:           memory.New(memory.WithTTL(cfg.retention)),
		cfg:             cfg,
		registry:        prometheus.NewRegistry(),
	}
	defer func() {
		if err != nil {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			err = errors.Join(err, p.Close(cctx))
		}
	}()

	if err := p.startBroker(); err != nil {
		return nil, err
	}
	if p.dataDir, err = os.MkdirTemp("", "citybench-kfake-"); err != nil {
		return nil, fmt.Errorf("embedded: kafka data dir: %w", err)
	}
	if err := p.StartKafka(ctx); err != nil {
		return nil, err
	}
	if err := p.createTopics(ctx); err != nil {
		return nil, err
	}
	if err := p.StartSinks(ctx); err != nil {
		return nil, err
	}
	if err := p.StartBridges(ctx); err != nil {
		return nil, err
	}
	if err := p.startAPI(); err != nil {
		return nil, err
	}
	p.startRetention(ctx)
	return p, nil
}

// startRetention enforces the retention on a ticker until Close.
func (p *Pipeline) startRetention(ctx context.Context) {
	if p.cfg.retention <= 0 {
		return
	}
	ctx, p.retentionStop = context.WithCancel(context.WithoutCancel(ctx))
	p.retentionWG.Add(1)
	go func() {
		defer p.retentionWG.Done()
		tick := time.NewTicker(retentionCheck(p.cfg.retention))
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-tick.C:
				p.applyRetention(now)
			}
		}
	}()
}

// applyRetention drops the Kafka records and store readings older than the
// retention (Kafka's by record timestamp, the store's by write time).
func (p *Pipeline) applyRetention(now time.Time) {
	p.kafkaMu.Lock()
	if p.kafka != nil {
		p.kafka.ApplyRetention()
	}
	p.kafkaMu.Unlock()
	p.Store.Expire(now)
}

func (p *Pipeline) startBroker() error {
	caps := mochi.NewDefaultServerCapabilities()
	// At the defaults mochi drops QoS 1 messages under fan-in (the bridge is one
	// subscriber receiving every device's stream). Raise the in-flight windows
	// to the protocol's limit, size the write queues for the expected
	// connections, and report what is still dropped.
	caps.MaximumInflight = 65535
	caps.ReceiveMaximum = 65535
	caps.MaximumClientWritesPending = writeQueue(p.cfg.connections)
	b := mochi.New(&mochi.Options{
		Capabilities: caps,
		InlineClient: false,
		Logger:       p.cfg.logger.With("component", "mqtt-broker"),
	})
	if err := p.addAuth(b); err != nil {
		return fmt.Errorf("embedded: broker auth hook: %w", err)
	}
	lcfg := listeners.Config{ID: "tcp", Address: "127.0.0.1:0"}
	scheme := "tcp://"
	if p.cfg.tls {
		// A throwaway CA: the broker serves 127.0.0.1 and demands client
		// certificates, as a production broker with mutual TLS would.
		certs, err := pki.New([]string{"127.0.0.1"}, "citybench client")
		if err != nil {
			return fmt.Errorf("embedded tls: %w", err)
		}
		if lcfg.TLSConfig, err = certs.ServerConfig(); err != nil {
			return fmt.Errorf("embedded tls: %w", err)
		}
		if p.ClientTLS, err = certs.ClientConfig(); err != nil {
			return fmt.Errorf("embedded tls: %w", err)
		}
		scheme = "ssl://"
	}
	ln := listeners.NewTCP(lcfg)
	if err := b.AddListener(ln); err != nil {
		return fmt.Errorf("embedded: broker listener: %w", err)
	}
	if err := b.Serve(); err != nil {
		return fmt.Errorf("embedded: broker serve: %w", err)
	}
	p.broker = b
	p.MQTTURL = scheme + ln.Address()
	return nil
}

// addAuth lets every client in, or WithPassword only the generated user.
func (p *Pipeline) addAuth(b *mochi.Server) error {
	if !p.cfg.password {
		return b.AddHook(new(auth.AllowHook), nil)
	}
	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		return err
	}
	p.MQTTUsername, p.MQTTPassword = "citybench", hex.EncodeToString(secret)
	users := auth.Users{p.MQTTUsername: {Username: auth.RString(p.MQTTUsername), Password: auth.RString(p.MQTTPassword)}}
	return b.AddHook(new(auth.Hook), &auth.Options{Ledger: &auth.Ledger{Users: users}})
}

// StartKafka starts the Kafka cluster: on first use on random ports, afterwards
// on the same ports with the state it had when StopKafka closed it (topics,
// records, committed offsets). Clients reconnect to the same addresses, as they
// would after a real cluster restart.
func (p *Pipeline) StartKafka(ctx context.Context) error {
	p.kafkaMu.Lock()
	defer p.kafkaMu.Unlock()
	if p.kafka != nil {
		return nil
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(p.cfg.kafkaBrokers),
		kfake.DataDir(p.dataDir),
		kfake.ClusterID("citybench-embedded"),
		kfake.GroupMinSessionTimeout(time.Second),
		kfake.BrokerConfigs(map[string]string{"min.insync.replicas": strconv.Itoa(min(2, p.cfg.replication))}),
	}
	if p.ports != nil {
		opts = append(opts, kfake.Ports(p.ports...))
	}
	var c *kfake.Cluster
	var err error
	// A just-closed port can be briefly unavailable; retry within ctx.
	for {
		c, err = kfake.NewCluster(opts...)
		if err == nil || p.ports == nil {
			break
		}
		p.cfg.logger.Debug("embedded: kafka restart failed, retrying", "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("embedded: restart kafka: %w (last error: %w)", ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	if err != nil {
		return fmt.Errorf("embedded: start kafka: %w", err)
	}
	p.kafka = c
	if p.ports == nil {
		p.KafkaBrokers = c.ListenAddrs()
		for _, a := range p.KafkaBrokers {
			_, port, err := net.SplitHostPort(a)
			if err != nil {
				return fmt.Errorf("embedded: kafka address %q: %w", a, err)
			}
			n, _ := strconv.Atoi(port)
			p.ports = append(p.ports, n)
		}
	}
	return nil
}

// StopKafka shuts the whole Kafka cluster down, saving its state, to simulate an
// outage: connections drop and new ones are refused until StartKafka.
func (p *Pipeline) StopKafka() {
	p.kafkaMu.Lock()
	defer p.kafkaMu.Unlock()
	if p.kafka != nil {
		p.kafka.Close()
		p.kafka = nil
	}
}

func (p *Pipeline) createTopics(ctx context.Context) error {
	cl := &kafka.Client{Addr: kafka.TCP(p.KafkaBrokers...), Timeout: 10 * time.Second}
	var entries []kafka.ConfigEntry
	if p.cfg.retention > 0 {
		entries = []kafka.ConfigEntry{{ConfigName: "retention.ms", ConfigValue: strconv.FormatInt(p.cfg.retention.Milliseconds(), 10)}}
	}
	resp, err := cl.CreateTopics(ctx, &kafka.CreateTopicsRequest{
		Topics: []kafka.TopicConfig{
			{Topic: p.Topic, NumPartitions: p.cfg.partitions, ReplicationFactor: p.cfg.replication, ConfigEntries: entries},
			{Topic: p.DeadLetterTopic, NumPartitions: 1, ReplicationFactor: p.cfg.replication, ConfigEntries: entries},
		},
	})
	if err != nil {
		return fmt.Errorf("embedded: create topics: %w", err)
	}
	var errs []error
	for name, e := range resp.Errors {
		if e != nil {
			errs = append(errs, fmt.Errorf("topic %s: %w", name, e))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("embedded: create topics: %w", err)
	}
	return nil
}

// StartSinks starts the configured number of sink instances in the consumer
// group (they resume from its committed offsets) and waits until they hold
// their partitions. It does nothing if they are running.
func (p *Pipeline) StartSinks(ctx context.Context) error {
	p.sinkMu.Lock()
	defer p.sinkMu.Unlock()
	if p.sinkStop != nil {
		return nil
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p.sinkStop = cancel
	var started []*sink.Sink
	for i := range p.cfg.sinks {
		s, err := sink.New(p.Store,
			sink.WithKafka(p.KafkaBrokers...),
			sink.WithTopic(p.Topic),
			sink.WithDeadLetterTopic(p.DeadLetterTopic),
			sink.WithGroup(p.SinkGroup),
			sink.WithCodec(p.cfg.codec),
			sink.WithSessionTimeout(6*time.Second),
			sink.WithMaxWriteRate(p.cfg.sinkMaxWriteRate),
			sink.WithLogger(p.cfg.logger.With("component", "sink", "instance", i)),
		)
		if err != nil {
			return fmt.Errorf("embedded: %w", err)
		}
		p.sinks = append(p.sinks, s)
		started = append(started, s)
		p.sinkWG.Add(1)
		go func() {
			defer p.sinkWG.Done()
			p.recordRunErr(s.Run(runCtx))
		}()
	}
	return p.waitFor(ctx, func() bool {
		for _, s := range started {
			if !s.Ready() {
				return false
			}
		}
		return true
	})
}

// sinkInstances returns every sink started so far, stopped ones included.
func (p *Pipeline) sinkInstances() []*sink.Sink {
	p.sinkMu.Lock()
	defer p.sinkMu.Unlock()
	return append([]*sink.Sink(nil), p.sinks...)
}

// StopSinks stops the sinks gracefully (the batches in hand are stored and
// committed) and waits for them, as a deployment scaling the sink to zero would.
func (p *Pipeline) StopSinks(ctx context.Context) error {
	p.sinkMu.Lock()
	defer p.sinkMu.Unlock()
	if p.sinkStop == nil {
		return nil
	}
	p.sinkStop()
	p.sinkStop = nil
	return waitGroup(ctx, &p.sinkWG, "sinks")
}

func waitGroup(ctx context.Context, wg *sync.WaitGroup, what string) error {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("embedded: %s did not stop: %w", what, ctx.Err())
	}
}

// StartBridges starts the configured number of bridges in the share group, with
// the same client ids as before so they resume their broker sessions, and waits
// until they are subscribed. It does nothing if they are running.
func (p *Pipeline) StartBridges(ctx context.Context) error {
	p.bridgeMu.Lock()
	defer p.bridgeMu.Unlock()
	if p.bridgeStop != nil {
		return nil
	}
	var routes *topics.Router
	if !p.cfg.template.IsZero() {
		var err error
		routes, err = topics.NewRouter([]topics.Route{{Filters: []string{"#"}, KafkaTopic: p.Topic, Template: p.cfg.template.String()}})
		if err != nil {
			return fmt.Errorf("embedded: routes: %w", err)
		}
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p.bridgeStop = cancel
	var started []*bridge.Bridge
	for i := range p.cfg.bridges {
		b, err := bridge.New(
			bridge.WithMQTT(p.MQTTURL),
			bridge.WithClientID(fmt.Sprintf("citybench-bridge-%d", i)),
			bridge.WithShareGroup("citybench-bridges"),
			bridge.WithFilter("#"),
			bridge.WithIgnore(p.cfg.ignore...),
			bridge.WithKafka(p.KafkaBrokers...),
			bridge.WithTopic(p.Topic),
			bridge.WithDeadLetterTopic(p.DeadLetterTopic),
			bridge.WithCodec(p.cfg.codec),
			bridge.WithRoutes(routes),
			bridge.WithTLS(p.clientTLS()),
			bridge.WithCredentials(p.MQTTUsername, p.MQTTPassword),
			bridge.WithLogger(p.cfg.logger.With("component", "bridge", "instance", i)),
		)
		if err != nil {
			return fmt.Errorf("embedded: %w", err)
		}
		p.bridges = append(p.bridges, b)
		started = append(started, b)
		p.bridgeWG.Add(1)
		go func() {
			defer p.bridgeWG.Done()
			p.recordRunErr(b.Run(runCtx))
		}()
	}
	return p.waitFor(ctx, func() bool {
		for _, b := range started {
			if !b.Ready() {
				return false
			}
		}
		return true
	})
}

// StopBridges stops the bridges gracefully (in-flight messages are written and
// acknowledged), as a crash-free redeploy would. Their broker sessions stay, so
// messages published meanwhile wait at the broker for StartBridges.
func (p *Pipeline) StopBridges(ctx context.Context) error {
	p.bridgeMu.Lock()
	defer p.bridgeMu.Unlock()
	if p.bridgeStop == nil {
		return nil
	}
	p.bridgeStop()
	p.bridgeStop = nil
	return waitGroup(ctx, &p.bridgeWG, "bridges")
}

func (p *Pipeline) clientTLS() *tls.Config {
	if p.ClientTLS == nil {
		return nil
	}
	return p.ClientTLS.Clone()
}

// bridgeInstances returns every bridge started so far, stopped ones included.
func (p *Pipeline) bridgeInstances() []*bridge.Bridge {
	p.bridgeMu.Lock()
	defer p.bridgeMu.Unlock()
	return append([]*bridge.Bridge(nil), p.bridges...)
}

func (p *Pipeline) startAPI() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("embedded: api listener: %w", err)
	}
	h := api.New(p.Store, api.WithRegistry(p.registry), api.WithLogger(p.cfg.logger.With("component", "api")))
	p.apiSrv = &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	p.APIURL = "http://" + ln.Addr().String()
	go func() {
		if err := p.apiSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			p.recordRunErr(fmt.Errorf("embedded: api: %w", err))
		}
	}()
	return nil
}

// waitFor polls cond until it holds, a component fails, ctx ends or the ready
// deadline passes.
func (p *Pipeline) waitFor(ctx context.Context, cond func() bool) error {
	deadline := time.NewTimer(p.cfg.readyWait)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if err := p.runErr(); err != nil {
			return fmt.Errorf("embedded: component failed while starting: %w", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("embedded: waiting for readiness: %w", ctx.Err())
		case <-deadline.C:
			return fmt.Errorf("embedded: components not ready after %s", p.cfg.readyWait)
		case <-tick.C:
		}
	}
	return nil
}

func (p *Pipeline) recordRunErr(err error) {
	if err == nil {
		return
	}
	p.runErrMu.Lock()
	defer p.runErrMu.Unlock()
	p.runErrs = append(p.runErrs, err)
}

func (p *Pipeline) runErr() error {
	p.runErrMu.Lock()
	defer p.runErrMu.Unlock()
	return errors.Join(p.runErrs...)
}

// InflightDropped is the broker's count of QoS>0 messages it dropped because a
// client's in-flight window was full. Anything but 0 means lost messages that no
// component downstream can see.
func (p *Pipeline) InflightDropped() int64 {
	if p.broker == nil {
		return 0
	}
	return p.broker.Info.Clone().InflightDropped
}

// MessagesDropped is the broker's count of messages dropped because a client's
// write queue was full.
func (p *Pipeline) MessagesDropped() int64 {
	if p.broker == nil {
		return 0
	}
	return p.broker.Info.Clone().MessagesDropped
}

// Counters returns the components' counters for a run's report.
func (p *Pipeline) Counters() map[string]int64 {
	out := map[string]int64{
		"broker_inflight_dropped": p.InflightDropped(),
		"broker_messages_dropped": p.MessagesDropped(),
	}
	for _, b := range p.bridgeInstances() {
		st := b.Stats()
		out["bridge_received"] += st.Received
		out["bridge_produced"] += st.Produced
		out["bridge_dead_lettered"] += st.DeadLettered
		out["bridge_ignored"] += st.Ignored
		out["bridge_errors"] += st.Errors
	}
	for _, s := range p.sinkInstances() {
		st := s.Stats()
		out["sink_consumed"] += st.Consumed
		out["sink_written"] += st.Written
		out["sink_dead_lettered"] += st.DeadLettered
		out["sink_errors"] += st.Errors
		out["sink_throttled_ms"] += st.Throttled.Milliseconds()
	}
	out["dead_lettered"] = out["bridge_dead_lettered"] + out["sink_dead_lettered"]
	out["store_expired"] = p.Store.Expired()
	out["kafka_expired"] = p.kafkaExpired()
	return out
}

// kafkaExpired is how many records retention removed from the topics: the sum of
// their partitions' log start offsets (nothing else deletes records here). While
// Kafka is stopped it is the figure from before the stop.
func (p *Pipeline) kafkaExpired() int64 {
	p.kafkaMu.Lock()
	defer p.kafkaMu.Unlock()
	if p.kafka == nil {
		return p.kafkaExpiredSeen
	}
	var n int64
	for _, t := range []string{p.Topic, p.DeadLetterTopic} {
		for _, pi := range p.kafka.PartitionInfos(t) {
			n += pi.LogStartOffset
		}
	}
	p.kafkaExpiredSeen = n
	return n
}

// Close stops the components in data-flow order (bridges drain into Kafka, sinks
// drain into the store) and then the servers. It is safe to call more than once.
func (p *Pipeline) Close(ctx context.Context) error {
	p.closeOnce.Do(func() { p.closeErr = p.close(ctx) })
	return p.closeErr
}

func (p *Pipeline) close(ctx context.Context) error {
	var errs []error
	start := time.Now()
	if p.retentionStop != nil {
		p.retentionStop()
		p.retentionWG.Wait()
	}
	if err := p.StopBridges(ctx); err != nil {
		errs = append(errs, err)
	}
	p.cfg.logger.Debug("embedded: bridges stopped", "took", time.Since(start))
	if err := p.StopSinks(ctx); err != nil {
		errs = append(errs, err)
	}
	p.cfg.logger.Debug("embedded: sinks stopped", "took", time.Since(start))
	if p.apiSrv != nil {
		if err := p.apiSrv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("embedded: api shutdown: %w", err))
		}
	}
	p.StopKafka()
	if p.broker != nil {
		if err := p.broker.Close(); err != nil {
			errs = append(errs, fmt.Errorf("embedded: broker close: %w", err))
		}
	}
	if p.dataDir != "" {
		if err := os.RemoveAll(p.dataDir); err != nil {
			errs = append(errs, fmt.Errorf("embedded: remove kafka data: %w", err))
		}
	}
	if p.Store != nil {
		if err := p.Store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("embedded: store close: %w", err))
		}
	}
	return errors.Join(errs...)
}
