// Package service runs one pipeline component (bridge, sink or API) as a
// standalone process configured from flags and CITYBENCH_* environment variables,
// with /metrics, /healthz and /readyz, draining gracefully when its context ends.
// Container images are built around exactly this.
package service

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/pflag"

	"github.com/citybench/citybench/pipeline/api"
	"github.com/citybench/citybench/pipeline/bridge"
	"github.com/citybench/citybench/pipeline/codec"
	"github.com/citybench/citybench/pipeline/kafkasec"
	"github.com/citybench/citybench/pipeline/sink"
	"github.com/citybench/citybench/pipeline/store"
	"github.com/citybench/citybench/pipeline/store/cassandra"
	"github.com/citybench/citybench/pipeline/store/memory"
	"github.com/citybench/citybench/pipeline/topics"
)

// Components that can be served.
const (
	Bridge = "bridge"
	Sink   = "sink"
	API    = "api"
)

// Config is everything a component process needs. Each field has a flag and a
// CITYBENCH_* environment variable (see Bind).
type Config struct {
	MQTTURL        string
	MQTTUsername   string
	MQTTPassword   string
	MQTTCA         string // PEM file of CAs to trust
	MQTTCert       string // PEM client certificate
	MQTTKey        string // PEM client key
	MQTTClientID   string
	MQTTShareGroup string
	MQTTFilter     string

	KafkaBrokers  []string
	KafkaTopic    string
	KafkaDLQTopic string
	KafkaGroup    string
	// Kafka TLS (PEM files; TLS is on when a CA or certificate is given) and SASL.
	KafkaCA, KafkaCert, KafkaKey string
	KafkaSASLMechanism           string
	KafkaUsername, KafkaPassword string

	Store                string // memory or cassandra
	CassandraHosts       []string
	CassandraKeyspace    string
	CassandraReplication string
	// Cassandra password authentication and client TLS (PEM files; on when a CA or
	// certificate is given). CassandraServerName is the name the nodes' certificates
	// carry when it is not the address dialled (nodes found through the ring are
	// dialled by IP).
	CassandraUsername, CassandraPassword     string
	CassandraCA, CassandraCert, CassandraKey string
	CassandraServerName                      string

	Listen string
	Codec  string
	// TopicTemplate is the city's topic layout: a built-in name (building,
	// hypo_city, testbench) or a pattern such as "/{zip}/{building}/{node}/env".
	// The bridge then sends only matching topics on (others are dead letters)
	// with their variables as the device's location, and the text and protobuf
	// codecs take device ids and metric names from it.
	TopicTemplate string
	DrainTimeout  time.Duration
	// SinkMaxWriteRate caps the sink's store writes in rows/s (0: no cap).
	SinkMaxWriteRate float64
}

// Environment variables of the endpoint and security settings, also read by the
// external target and set by the containers target: each name is defined here only.
const (
	EnvMQTTURL           = "CITYBENCH_MQTT_URL"
	EnvMQTTUsername      = "CITYBENCH_MQTT_USERNAME"
	EnvMQTTPassword      = "CITYBENCH_MQTT_PASSWORD"
	EnvMQTTCA            = "CITYBENCH_MQTT_CA"
	EnvMQTTCert          = "CITYBENCH_MQTT_CERT"
	EnvMQTTKey           = "CITYBENCH_MQTT_KEY"
	EnvKafkaBrokers      = "CITYBENCH_KAFKA_BROKERS"
	EnvKafkaTopic        = "CITYBENCH_KAFKA_TOPIC"
	EnvKafkaDLQTopic     = "CITYBENCH_KAFKA_DLQ_TOPIC"
	EnvCassandraHosts    = "CITYBENCH_CASSANDRA_HOSTS"
	EnvCassandraKeyspace = "CITYBENCH_CASSANDRA_KEYSPACE"

	EnvKafkaCA             = "CITYBENCH_KAFKA_CA"
	EnvKafkaCert           = "CITYBENCH_KAFKA_CERT"
	EnvKafkaKey            = "CITYBENCH_KAFKA_KEY"
	EnvKafkaSASLMechanism  = "CITYBENCH_KAFKA_SASL_MECHANISM"
	EnvKafkaUsername       = "CITYBENCH_KAFKA_USERNAME"
	EnvKafkaPassword       = "CITYBENCH_KAFKA_PASSWORD"
	EnvCassandraUsername   = "CITYBENCH_CASSANDRA_USERNAME"
	EnvCassandraPassword   = "CITYBENCH_CASSANDRA_PASSWORD"
	EnvCassandraCA         = "CITYBENCH_CASSANDRA_CA"
	EnvCassandraCert       = "CITYBENCH_CASSANDRA_CERT"
	EnvCassandraKey        = "CITYBENCH_CASSANDRA_KEY"
	EnvCassandraServerName = "CITYBENCH_CASSANDRA_SERVER_NAME"
)

// EnvSinkMaxWriteRate is the sink's write-rate cap setting (rows/s).
const EnvSinkMaxWriteRate = "CITYBENCH_SINK_MAX_WRITE_RATE"

// envVar names one setting: its flag, environment variable and help.
type envVar struct {
	flag, env, help string
	str             *string
	list            *[]string
	dur             *time.Duration
	num             *float64
	def             string
}

func (c *Config) vars() []envVar {
	return []envVar{
		{flag: "mqtt-url", env: EnvMQTTURL, def: "tcp://127.0.0.1:1883", str: &c.MQTTURL, help: "MQTT broker URL (tcp://, ssl://)"},
		{flag: "mqtt-username", env: EnvMQTTUsername, str: &c.MQTTUsername, help: "MQTT username"},
		{flag: "mqtt-password", env: EnvMQTTPassword, str: &c.MQTTPassword, help: "MQTT password"},
		{flag: "mqtt-ca", env: EnvMQTTCA, str: &c.MQTTCA, help: "PEM file of CAs to trust for MQTT TLS"},
		{flag: "mqtt-cert", env: EnvMQTTCert, str: &c.MQTTCert, help: "PEM client certificate for MQTT TLS"},
		{flag: "mqtt-key", env: EnvMQTTKey, str: &c.MQTTKey, help: "PEM client key for MQTT TLS"},
		{flag: "mqtt-client-id", env: "CITYBENCH_MQTT_CLIENT_ID", str: &c.MQTTClientID, help: "fixed MQTT client id (default citybench-bridge-<hostname>)"},
		{flag: "mqtt-share-group", env: "CITYBENCH_MQTT_SHARE_GROUP", def: "citybench-bridges", str: &c.MQTTShareGroup, help: "MQTT shared-subscription group; empty for a plain subscription"},
		{flag: "mqtt-filter", env: "CITYBENCH_MQTT_FILTER", def: "#", str: &c.MQTTFilter, help: "MQTT topic filter to bridge"},
		{flag: "kafka-brokers", env: EnvKafkaBrokers, def: "127.0.0.1:9092", list: &c.KafkaBrokers, help: "Kafka bootstrap brokers, comma separated"},
		{flag: "kafka-topic", env: EnvKafkaTopic, def: "readings", str: &c.KafkaTopic, help: "Kafka topic for readings"},
		{flag: "kafka-dlq-topic", env: EnvKafkaDLQTopic, def: "readings.dlq", str: &c.KafkaDLQTopic, help: "Kafka dead-letter topic"},
		{flag: "kafka-group", env: "CITYBENCH_KAFKA_GROUP", def: "citybench-sink", str: &c.KafkaGroup, help: "Kafka consumer group of the sink"},
		{flag: "kafka-ca", env: EnvKafkaCA, str: &c.KafkaCA, help: "PEM file of CAs to trust for Kafka TLS (TLS is on when this or kafka-cert is set)"},
		{flag: "kafka-cert", env: EnvKafkaCert, str: &c.KafkaCert, help: "PEM client certificate for Kafka TLS"},
		{flag: "kafka-key", env: EnvKafkaKey, str: &c.KafkaKey, help: "PEM client key for Kafka TLS"},
		{flag: "kafka-sasl-mechanism", env: EnvKafkaSASLMechanism, str: &c.KafkaSASLMechanism, help: "Kafka SASL mechanism: SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN; empty for none"},
		{flag: "kafka-username", env: EnvKafkaUsername, str: &c.KafkaUsername, help: "Kafka SASL username"},
		{flag: "kafka-password", env: EnvKafkaPassword, str: &c.KafkaPassword, help: "Kafka SASL password"},
		{flag: "store", env: "CITYBENCH_STORE", def: "memory", str: &c.Store, help: "store: memory or cassandra"},
		{flag: "cassandra-hosts", env: EnvCassandraHosts, def: "127.0.0.1:9042", list: &c.CassandraHosts, help: "Cassandra contact points, comma separated"},
		{flag: "cassandra-keyspace", env: EnvCassandraKeyspace, def: cassandra.DefaultKeyspace, str: &c.CassandraKeyspace, help: "Cassandra keyspace"},
		{flag: "cassandra-replication", env: "CITYBENCH_CASSANDRA_REPLICATION", def: cassandra.DefaultReplication, str: &c.CassandraReplication, help: "Cassandra keyspace replication map (CQL)"},
		{flag: "cassandra-username", env: EnvCassandraUsername, str: &c.CassandraUsername, help: "Cassandra username (password authentication)"},
		{flag: "cassandra-password", env: EnvCassandraPassword, str: &c.CassandraPassword, help: "Cassandra password"},
		{flag: "cassandra-ca", env: EnvCassandraCA, str: &c.CassandraCA, help: "PEM file of CAs to trust for Cassandra client TLS (TLS is on when this or cassandra-cert is set)"},
		{flag: "cassandra-cert", env: EnvCassandraCert, str: &c.CassandraCert, help: "PEM client certificate for Cassandra TLS"},
		{flag: "cassandra-key", env: EnvCassandraKey, str: &c.CassandraKey, help: "PEM client key for Cassandra TLS"},
		{flag: "cassandra-server-name", env: EnvCassandraServerName, str: &c.CassandraServerName, help: "name the Cassandra nodes' certificates carry, when not the address dialled"},
		{flag: "listen", env: "CITYBENCH_LISTEN", def: ":8080", str: &c.Listen, help: "HTTP listen address (/metrics, /healthz, /readyz; the API itself for api)"},
		{flag: "codec", env: "CITYBENCH_CODEC", def: "json", str: &c.Codec, help: "payload codec: " + strings.Join(codec.Names(), ", ")},
		{flag: "topic-template", env: "CITYBENCH_TOPIC_TEMPLATE", str: &c.TopicTemplate, help: "topic layout: building, hypo_city, testbench or a {var} pattern; empty for none"},
		{flag: "drain-timeout", env: "CITYBENCH_DRAIN_TIMEOUT", def: "20s", dur: &c.DrainTimeout, help: "how long to finish in-flight work after SIGTERM"},
		{flag: "max-write-rate", env: EnvSinkMaxWriteRate, def: "0", num: &c.SinkMaxWriteRate, help: "sink: most rows written to the store per second, 0 for no cap"},
	}
}

// Bind registers every setting as a flag on fs whose default comes from the
// environment (getenv) or else the built-in default, so flags beat environment
// beats defaults. An unparseable environment value is returned as an error.
func (c *Config) Bind(fs *pflag.FlagSet, getenv func(string) string) error {
	var errs []error
	for _, v := range c.vars() {
		def := v.def
		if e := getenv(v.env); e != "" {
			def = e
		}
		help := fmt.Sprintf("%s [$%s]", v.help, v.env)
		switch {
		case v.str != nil:
			fs.StringVar(v.str, v.flag, def, help)
		case v.list != nil:
			fs.StringSliceVar(v.list, v.flag, splitList(def), help)
		case v.num != nil:
			f, err := strconv.ParseFloat(def, 64)
			if err != nil {
				errs = append(errs, fmt.Errorf("$%s: %w", v.env, err))
			}
			fs.Float64Var(v.num, v.flag, f, help)
		case v.dur != nil:
			d, err := time.ParseDuration(def)
			if err != nil {
				errs = append(errs, fmt.Errorf("$%s: %w", v.env, err))
			}
			fs.DurationVar(v.dur, v.flag, d, help)
		}
	}
	return errors.Join(errs...)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Validate checks what component needs and returns every problem at once.
func (c Config) Validate(component string) error {
	var errs []error
	need := func(ok bool, msg string) {
		if !ok {
			errs = append(errs, errors.New(msg))
		}
	}
	switch component {
	case Bridge:
		need(c.MQTTURL != "", "mqtt-url is empty")
		need(c.MQTTFilter != "", "mqtt-filter is empty")
		need((c.MQTTCert == "") == (c.MQTTKey == ""), "mqtt-cert and mqtt-key must be given together")
		need(len(c.KafkaBrokers) > 0, "kafka-brokers is empty")
		need(c.KafkaTopic != "" && c.KafkaDLQTopic != "", "kafka-topic and kafka-dlq-topic must be set")
		errs = append(errs, c.validateKafkaSecurity()...)
	case Sink:
		need(len(c.KafkaBrokers) > 0, "kafka-brokers is empty")
		need(c.KafkaTopic != "" && c.KafkaDLQTopic != "", "kafka-topic and kafka-dlq-topic must be set")
		need(c.KafkaGroup != "", "kafka-group is empty")
		errs = append(errs, c.validateKafkaSecurity()...)
		errs = append(errs, c.validateStore()...)
	case API:
		errs = append(errs, c.validateStore()...)
	default:
		errs = append(errs, fmt.Errorf("unknown component %q (want bridge, sink or api)", component))
	}
	if component == Bridge || component == Sink {
		if _, err := c.PayloadCodec(); err != nil {
			errs = append(errs, err)
		}
	}
	need(c.Listen != "", "listen is empty")
	need(c.DrainTimeout > 0, "drain-timeout must be positive")
	need(c.SinkMaxWriteRate >= 0, "max-write-rate must be 0 (no cap) or positive")
	return errors.Join(errs...)
}

func (c Config) validateKafkaSecurity() []error {
	var errs []error
	if (c.KafkaCert == "") != (c.KafkaKey == "") {
		errs = append(errs, errors.New("kafka-cert and kafka-key must be given together"))
	}
	if _, err := (kafkasec.Config{Mechanism: c.KafkaSASLMechanism, Username: c.KafkaUsername, Password: c.KafkaPassword}).SASL(); err != nil {
		errs = append(errs, err)
	}
	return errs
}

func (c Config) validateStore() []error {
	switch c.Store {
	case "memory":
		return nil
	case "cassandra":
		var errs []error
		if len(c.CassandraHosts) == 0 {
			errs = append(errs, errors.New("cassandra-hosts is empty"))
		}
		if (c.CassandraCert == "") != (c.CassandraKey == "") {
			errs = append(errs, errors.New("cassandra-cert and cassandra-key must be given together"))
		}
		if c.CassandraPassword != "" && c.CassandraUsername == "" {
			errs = append(errs, errors.New("cassandra-password given without cassandra-username"))
		}
		return errs
	}
	return []error{fmt.Errorf("store %q unknown (want memory or cassandra)", c.Store)}
}

// Template returns the parsed topic template; the zero Template when none is set.
func (c Config) Template() (topics.Template, error) {
	if c.TopicTemplate == "" {
		return topics.Template{}, nil
	}
	if !strings.ContainsAny(c.TopicTemplate, "/{") {
		return topics.Builtin(c.TopicTemplate)
	}
	return topics.Parse(c.TopicTemplate)
}

// PayloadCodec builds the configured codec, reading topics through the template
// when one is set.
func (c Config) PayloadCodec() (codec.Codec, error) {
	tpl, err := c.Template()
	if err != nil {
		return nil, fmt.Errorf("topic template: %w", err)
	}
	if tpl.IsZero() {
		return codec.ByName(c.Codec)
	}
	switch c.Codec {
	case "text":
		return codec.Text(codec.WithTemplate(tpl)), nil
	case "protobuf":
		return codec.Protobuf(codec.WithEnvironmentTemplate(tpl)), nil
	}
	return codec.ByName(c.Codec)
}

// Routes returns the bridge's routing: every topic of the template under the
// filter goes to the readings topic. nil when no template is set.
func (c Config) Routes() (*topics.Router, error) {
	tpl, err := c.Template()
	if err != nil || tpl.IsZero() {
		return nil, err
	}
	return topics.NewRouter([]topics.Route{{Filters: []string{c.MQTTFilter}, KafkaTopic: c.KafkaTopic, Template: tpl.String()}})
}

// MQTTTLS builds the TLS config from the CA, certificate and key files; nil when
// none is set.
func (c Config) MQTTTLS() (*tls.Config, error) {
	t, err := LoadTLS(c.MQTTCA, c.MQTTCert, c.MQTTKey)
	if err != nil {
		return nil, fmt.Errorf("mqtt %w", err)
	}
	return t, nil
}

// KafkaSecurity is the Kafka TLS and SASL setting from the PEM files and credentials.
func (c Config) KafkaSecurity() (kafkasec.Config, error) {
	t, err := LoadTLS(c.KafkaCA, c.KafkaCert, c.KafkaKey)
	if err != nil {
		return kafkasec.Config{}, fmt.Errorf("kafka %w", err)
	}
	sec := kafkasec.Config{TLS: t, Mechanism: c.KafkaSASLMechanism, Username: c.KafkaUsername, Password: c.KafkaPassword}
	if _, err := sec.SASL(); err != nil {
		return kafkasec.Config{}, err
	}
	return sec, nil
}

// CassandraTLS builds the Cassandra client TLS config; nil when none is set.
func (c Config) CassandraTLS() (*tls.Config, error) {
	t, err := LoadTLS(c.CassandraCA, c.CassandraCert, c.CassandraKey)
	if err != nil {
		return nil, fmt.Errorf("cassandra %w", err)
	}
	if t != nil {
		t.ServerName = c.CassandraServerName
	}
	return t, nil
}

// LoadTLS builds a client TLS config from PEM files: ca to trust (else the
// system roots), cert and key to present (both or neither). It returns nil when
// ca and cert are both empty, meaning plain TCP.
func LoadTLS(ca, cert, key string) (*tls.Config, error) {
	if ca == "" && cert == "" {
		return nil, nil
	}
	t := &tls.Config{MinVersion: tls.VersionTLS12}
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA %s: no PEM certificates", ca)
		}
		t.RootCAs = pool
	}
	if cert != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		t.Certificates = []tls.Certificate{pair}
	}
	return t, nil
}

// kafkaDialTimeout bounds connecting to a broker, TLS and SASL included.
const kafkaDialTimeout = 5 * time.Second

// Run serves component until ctx ends, then drains within the drain timeout.
// ready, if not nil, receives the HTTP address once the server listens.
func Run(ctx context.Context, component string, cfg Config, logger *slog.Logger, ready func(addr string)) error {
	if err := cfg.Validate(component); err != nil {
		return fmt.Errorf("%s config: %w", component, err)
	}
	if logger == nil {
		logger = slog.Default()
	}
	logger = logger.With("component", component)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	switch component {
	case Bridge:
		return runBridge(ctx, cfg, reg, logger, ready)
	case Sink:
		return runSink(ctx, cfg, reg, logger, ready)
	default:
		return runAPI(ctx, cfg, reg, logger, ready)
	}
}

func runBridge(ctx context.Context, cfg Config, reg *prometheus.Registry, logger *slog.Logger, ready func(string)) error {
	cd, err := cfg.PayloadCodec()
	if err != nil {
		return err
	}
	routes, err := cfg.Routes()
	if err != nil {
		return fmt.Errorf("routes: %w", err)
	}
	tlsCfg, err := cfg.MQTTTLS()
	if err != nil {
		return err
	}
	kafkaSec, err := cfg.KafkaSecurity()
	if err != nil {
		return err
	}
	transport, err := kafkaSec.Transport(kafkaDialTimeout, bridge.MetadataTTL)
	if err != nil {
		return err
	}
	opts := []bridge.Option{
		bridge.WithMQTT(cfg.MQTTURL),
		bridge.WithCredentials(cfg.MQTTUsername, cfg.MQTTPassword),
		bridge.WithTLS(tlsCfg),
		bridge.WithShareGroup(cfg.MQTTShareGroup),
		bridge.WithFilter(cfg.MQTTFilter),
		bridge.WithKafka(cfg.KafkaBrokers...),
		bridge.WithKafkaTransport(transport),
		bridge.WithTopic(cfg.KafkaTopic),
		bridge.WithDeadLetterTopic(cfg.KafkaDLQTopic),
		bridge.WithCodec(cd),
		bridge.WithRoutes(routes),
		bridge.WithDrainTimeout(cfg.DrainTimeout),
		bridge.WithRegistry(reg),
		bridge.WithLogger(logger),
	}
	if cfg.MQTTClientID != "" {
		opts = append(opts, bridge.WithClientID(cfg.MQTTClientID))
	}
	b, err := bridge.New(opts...)
	if err != nil {
		return err
	}
	return serveWith(ctx, cfg, reg, logger, ready, b.Ready, b.Run)
}

func runSink(ctx context.Context, cfg Config, reg *prometheus.Registry, logger *slog.Logger, ready func(string)) error {
	cd, err := cfg.PayloadCodec()
	if err != nil {
		return err
	}
	kafkaSec, err := cfg.KafkaSecurity()
	if err != nil {
		return err
	}
	dialer, err := kafkaSec.Dialer(kafkaDialTimeout)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer st.Close()
	s, err := sink.New(st,
		sink.WithKafka(cfg.KafkaBrokers...),
		sink.WithDialer(dialer),
		sink.WithTopic(cfg.KafkaTopic),
		sink.WithDeadLetterTopic(cfg.KafkaDLQTopic),
		sink.WithGroup(cfg.KafkaGroup),
		sink.WithCodec(cd),
		sink.WithDrainTimeout(cfg.DrainTimeout),
		sink.WithMaxWriteRate(cfg.SinkMaxWriteRate),
		sink.WithRegistry(reg),
		sink.WithLogger(logger),
	)
	if err != nil {
		return err
	}
	return serveWith(ctx, cfg, reg, logger, ready, s.Ready, s.Run)
}

func runAPI(ctx context.Context, cfg Config, reg *prometheus.Registry, logger *slog.Logger, ready func(string)) error {
	st, err := openStore(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer st.Close()
	srv := api.NewServer(cfg.Listen, api.New(st, api.WithRegistry(reg), api.WithLogger(logger)))
	return serve(ctx, cfg, srv, logger, ready, nil)
}

func openStore(ctx context.Context, cfg Config, logger *slog.Logger) (store.Store, error) {
	if cfg.Store == "memory" {
		logger.Warn("using the in-memory store: data lives only as long as this process")
		return memory.New(), nil
	}
	tlsCfg, err := cfg.CassandraTLS()
	if err != nil {
		return nil, err
	}
	st, err := cassandra.Open(ctx, cassandra.Config{
		Hosts:       cfg.CassandraHosts,
		Keyspace:    cfg.CassandraKeyspace,
		Replication: cfg.CassandraReplication,
		Username:    cfg.CassandraUsername,
		Password:    cfg.CassandraPassword,
		TLS:         tlsCfg,
		Logger:      logger,
	})
	if err != nil {
		return nil, fmt.Errorf("open cassandra: %w", err)
	}
	return st, nil
}

// serveWith runs a component next to its health and metrics server.
func serveWith(ctx context.Context, cfg Config, reg *prometheus.Registry, logger *slog.Logger, ready func(string),
	isReady func() bool, run func(context.Context) error) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !isReady() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	srv := &http.Server{Addr: cfg.Listen, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	return serve(ctx, cfg, srv, logger, ready, run)
}

// serve runs srv and, if given, run until ctx ends or either fails. The
// component drains first; the HTTP server stays up meanwhile so /metrics shows
// the drain.
func serve(ctx context.Context, cfg Config, srv *http.Server, logger *slog.Logger, ready func(string),
	run func(context.Context) error) error {
	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", srv.Addr, err)
	}
	logger.Info("serving", "addr", ln.Addr().String())
	if ready != nil {
		ready(ln.Addr().String())
	}
	srvErr := make(chan error, 1)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			srvErr <- fmt.Errorf("http server: %w", err)
		}
		close(srvErr)
	}()
	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	runErr := make(chan error, 1)
	if run != nil {
		go func() { runErr <- run(runCtx) }()
	}
	var errs []error
	select {
	case <-ctx.Done():
	case err := <-srvErr:
		errs = append(errs, err)
	case err := <-runErr:
		// A component that returns before its context ended has failed.
		runErr = nil
		if err == nil {
			err = errors.New("returned without error")
		}
		errs = append(errs, fmt.Errorf("component stopped early: %w", err))
	}
	cancelRun()
	if run != nil && runErr != nil {
		errs = append(errs, <-runErr)
	}
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.DrainTimeout)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		errs = append(errs, fmt.Errorf("http shutdown: %w", err))
	}
	return errors.Join(errs...)
}
