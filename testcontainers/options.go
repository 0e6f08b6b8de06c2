package testcontainers

import (
	"io"
	"log/slog"
	"time"
)

// Option configures a containers target.
type Option func(*config)

type config struct {
	log             *slog.Logger
	runDir          string
	flavour         Flavour
	startTimeout    time.Duration
	pullTimeout     time.Duration
	kafkaHeap       string
	cassandraHeap   string
	cassandraNewGen string
	services        bool
	keyspace        string
	// brokerOnly starts just the MQTT broker: broker tests need nothing else, and a
	// full topology costs a minute of Cassandra start on a 2-core machine.
	brokerOnly bool
	// kafkaClusterID replaces the generated cluster id, so tests can give Kafka one
	// it refuses and watch the start fail.
	kafkaClusterID string
	labels         map[string]string
	// proxied are the links (linkBroker, linkKafka) Toxiproxy sits on; none by default.
	proxied map[string]bool
	// codec and template configure the bridge and sink for the scenario's
	// payloads and topic layout (empty: the services' defaults, JSON and none).
	codec, template string
	// devices is how many devices the run connects: it sizes the broker tier
	// (see TopologyFor) and says how they reach it (0: unknown, one broker).
	devices int
}

func defaults() config {
	return config{
		log:          slog.New(slog.NewTextHandler(io.Discard, nil)),
		startTimeout: 6 * time.Minute,
		pullTimeout:  20 * time.Second,
		// Three brokers and a Cassandra node share two cores and the harness on the
		// benchmark machine; the upstream defaults (1 GiB Kafka, a quarter of RAM for
		// Cassandra) would not fit.
		kafkaHeap:       "-Xmx384m -Xms384m",
		cassandraHeap:   "768M",
		cassandraNewGen: "128M",
		services:        true,
		keyspace:        "citybench",
	}
}

// WithLogger sends progress logs to log.
func WithLogger(log *slog.Logger) Option { return func(c *config) { c.log = log } }

// WithRunDir saves every container's log into dir/containers/<name>.log at Stop.
func WithRunDir(dir string) Option { return func(c *config) { c.runDir = dir } }

// WithImages forces a flavour instead of CITYBENCH_IMAGES / auto-detection.
func WithImages(f Flavour) Option { return func(c *config) { c.flavour = f } }

// WithStartTimeout bounds Start (default 6 min: Cassandra on a busy 2-core machine
// takes a minute or more).
func WithStartTimeout(d time.Duration) Option { return func(c *config) { c.startTimeout = d } }

// WithKafkaHeap sets KAFKA_HEAP_OPTS, e.g. "-Xmx384m -Xms384m".
func WithKafkaHeap(opts string) Option { return func(c *config) { c.kafkaHeap = opts } }

// WithCassandraHeap sets MAX_HEAP_SIZE and HEAP_NEWSIZE, e.g. "768M", "128M".
func WithCassandraHeap(max, newGen string) Option {
	return func(c *config) { c.cassandraHeap, c.cassandraNewGen = max, newGen }
}

// WithoutServices starts only the infrastructure (broker, Kafka, Cassandra), for
// harness code that runs the bridge/sink/API itself, and for infrastructure tests.
func WithoutServices() Option { return func(c *config) { c.services = false } }

// WithPayloads deploys the bridge and sink for the devices' payload codec and
// topic layout (a built-in name or a {var} pattern; empty for none), as a city
// configures its pipeline for its devices. Without it they expect JSON.
func WithPayloads(codec, template string) Option {
	return func(c *config) { c.codec, c.template = codec, template }
}

// WithKeyspace sets the Cassandra keyspace the sink and API use (default citybench).
func WithKeyspace(ks string) Option { return func(c *config) { c.keyspace = ks } }

// WithRunLabel adds a label to every container and network of the run, e.g. a CI
// job id, so leftovers of one job can be found with LeftoversLabelled.
func WithRunLabel(key, value string) Option {
	return func(c *config) {
		if c.labels == nil {
			c.labels = map[string]string{}
		}
		c.labels[key] = value
	}
}

// WithDevices tells the target how many devices the run connects, so a fleet
// too large for one broker gets a tier of them (unless target.brokers pins the
// count) and devices reach the brokers the way that many connections need.
func WithDevices(n int) Option { return func(c *config) { c.devices = n } }
