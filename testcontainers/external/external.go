// Package external is the target for a pipeline someone else runs (a staging
// cluster): it takes user-supplied endpoints, checks before a run what answers,
// and refuses with a clear message when something configured does not.
package external

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/citybench/citybench/harness/target"
	"github.com/citybench/citybench/pipeline/bridge"
	"github.com/citybench/citybench/pipeline/service"
	"github.com/citybench/citybench/pipeline/store/cassandra"
	"github.com/citybench/citybench/reports/result"
	"github.com/citybench/citybench/testcontainers"
)

// Config holds the endpoints of the user's pipeline. Only MQTT is required; a
// stage left empty is not measured (and not checked).
type Config struct {
	MQTTURLs     []string
	MQTTUsername string
	MQTTPassword string
	// MQTTCA, MQTTCert and MQTTKey are PEM files for ssl:// brokers.
	MQTTCA, MQTTCert, MQTTKey string
	KafkaBrokers              []string
	KafkaTopic                string // default readings
	KafkaDLQTopic             string // default bridge.DefaultDLQTopic (readings.dlq), the services' default
	// Kafka TLS (PEM files; on when a CA or certificate is given) and SASL
	// (SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN).
	KafkaCA, KafkaCert, KafkaKey string
	KafkaSASLMechanism           string
	KafkaUsername, KafkaPassword string
	CassandraHosts               []string
	CassandraKeyspace            string // default citybench
	// Cassandra password authentication and client TLS (PEM files); ServerName is
	// the name the nodes' certificates carry when it is not the address dialled.
	CassandraUsername, CassandraPassword     string
	CassandraCA, CassandraCert, CassandraKey string
	CassandraServerName                      string
	APIURL                                   string
}

// EnvAPIURL is the web API's base URL, the one endpoint only the harness reads;
// the others are the pipeline services' own variables (service.Env*).
const EnvAPIURL = "CITYBENCH_API_URL"

// envFields pairs every variable the external target reads with its field, so
// reading the environment (ConfigFromEnv) and writing it (Env) cannot drift.
// Exactly one of str and list is set; lists are comma separated.
func (c *Config) envFields() []struct {
	name string
	str  *string
	list *[]string
} {
	type field = struct {
		name string
		str  *string
		list *[]string
	}
	return []field{
		{name: service.EnvMQTTURL, list: &c.MQTTURLs},
		{name: service.EnvMQTTUsername, str: &c.MQTTUsername},
		{name: service.EnvMQTTPassword, str: &c.MQTTPassword},
		{name: service.EnvMQTTCA, str: &c.MQTTCA},
		{name: service.EnvMQTTCert, str: &c.MQTTCert},
		{name: service.EnvMQTTKey, str: &c.MQTTKey},
		{name: service.EnvKafkaBrokers, list: &c.KafkaBrokers},
		{name: service.EnvKafkaTopic, str: &c.KafkaTopic},
		{name: service.EnvKafkaDLQTopic, str: &c.KafkaDLQTopic},
		{name: service.EnvKafkaCA, str: &c.KafkaCA},
		{name: service.EnvKafkaCert, str: &c.KafkaCert},
		{name: service.EnvKafkaKey, str: &c.KafkaKey},
		{name: service.EnvKafkaSASLMechanism, str: &c.KafkaSASLMechanism},
		{name: service.EnvKafkaUsername, str: &c.KafkaUsername},
		{name: service.EnvKafkaPassword, str: &c.KafkaPassword},
		{name: service.EnvCassandraHosts, list: &c.CassandraHosts},
		{name: service.EnvCassandraKeyspace, str: &c.CassandraKeyspace},
		{name: service.EnvCassandraUsername, str: &c.CassandraUsername},
		{name: service.EnvCassandraPassword, str: &c.CassandraPassword},
		{name: service.EnvCassandraCA, str: &c.CassandraCA},
		{name: service.EnvCassandraCert, str: &c.CassandraCert},
		{name: service.EnvCassandraKey, str: &c.CassandraKey},
		{name: service.EnvCassandraServerName, str: &c.CassandraServerName},
		{name: EnvAPIURL, str: &c.APIURL},
	}
}

// ConfigFromEnv reads the same CITYBENCH_* variables the pipeline services use,
// plus CITYBENCH_API_URL; lists are comma separated.
func ConfigFromEnv(getenv func(string) string) Config {
	var c Config
	for _, f := range c.envFields() {
		if f.str != nil {
			*f.str = getenv(f.name)
			continue
		}
		for _, s := range strings.Split(getenv(f.name), ",") {
			if s = strings.TrimSpace(s); s != "" {
				*f.list = append(*f.list, s)
			}
		}
	}
	return c
}

// Env is c as the environment ConfigFromEnv reads ("NAME=value" entries, unset
// fields left out): how a worker process is pointed at a pipeline another
// process started.
func (c Config) Env() []string {
	var out []string
	for _, f := range c.envFields() {
		v := ""
		if f.str != nil {
			v = *f.str
		} else {
			v = strings.Join(*f.list, ",")
		}
		if v != "" {
			out = append(out, f.name+"="+v)
		}
	}
	return out
}

// Config returns the target's configuration (defaults applied).
func (t *Target) Config() Config { return t.cfg }

// serviceConfig is the security part of cfg as the pipeline services hold it, so
// the external target builds TLS and SASL exactly as they do.
func (c Config) serviceConfig() service.Config {
	return service.Config{
		KafkaCA: c.KafkaCA, KafkaCert: c.KafkaCert, KafkaKey: c.KafkaKey,
		KafkaSASLMechanism: c.KafkaSASLMechanism, KafkaUsername: c.KafkaUsername, KafkaPassword: c.KafkaPassword,
		CassandraUsername: c.CassandraUsername, CassandraPassword: c.CassandraPassword,
		CassandraCA: c.CassandraCA, CassandraCert: c.CassandraCert, CassandraKey: c.CassandraKey,
		CassandraServerName: c.CassandraServerName,
	}
}

// cqlAuth is how the preflight and the read-back authenticate to Cassandra.
func (c Config) cqlAuth() (testcontainers.CQLAuth, error) {
	t, err := c.serviceConfig().CassandraTLS()
	if err != nil {
		return testcontainers.CQLAuth{}, err
	}
	return testcontainers.CQLAuth{Username: c.CassandraUsername, Password: c.CassandraPassword, TLS: t}, nil
}

// Check is the outcome of probing one endpoint.
type Check struct {
	Stage   string // mqtt | kafka | cassandra | api
	Address string
	OK      bool
	Detail  string // what answered, or why not
}

// Report is a preflight's outcome.
type Report struct{ Checks []Check }

// OK reports whether every check passed.
func (r Report) OK() bool {
	for _, c := range r.Checks {
		if !c.OK {
			return false
		}
	}
	return len(r.Checks) > 0
}

// String is the report as a person reads it, one line per check.
func (r Report) String() string {
	var b strings.Builder
	for _, c := range r.Checks {
		mark := "ok  "
		if !c.OK {
			mark = "FAIL"
		}
		fmt.Fprintf(&b, "%s %-9s %s: %s\n", mark, c.Stage, c.Address, c.Detail)
	}
	return b.String()
}

// Option configures the target.
type Option func(*Target)

// WithLogger sends progress logs to log.
func WithLogger(log *slog.Logger) Option { return func(t *Target) { t.log = log } }

// WithCheckTimeout bounds each probe (default 5 s).
func WithCheckTimeout(d time.Duration) Option { return func(t *Target) { t.checkTimeout = d } }

// Target is the external target. It implements target.Target.
type Target struct {
	cfg          Config
	log          *slog.Logger
	checkTimeout time.Duration

	mu    sync.Mutex
	store *cassandra.Store
	last  Report
}

var _ target.Target = (*Target)(nil)

// New returns an external target for cfg.
func New(cfg Config, opts ...Option) *Target {
	cfg.KafkaTopic = cmp.Or(cfg.KafkaTopic, "readings")
	cfg.KafkaDLQTopic = cmp.Or(cfg.KafkaDLQTopic, bridge.DefaultDLQTopic)
	cfg.CassandraKeyspace = cmp.Or(cfg.CassandraKeyspace, cassandra.DefaultKeyspace)
	t := &Target{cfg: cfg, log: slog.Default(), checkTimeout: 5 * time.Second}
	for _, o := range opts {
		o(t)
	}
	return t
}

// tlsConfig builds the MQTT client TLS configuration from the PEM files, if any,
// exactly as the pipeline's own services read them.
func (t *Target) tlsConfig() (*tls.Config, error) {
	cfg, err := service.LoadTLS(t.cfg.MQTTCA, t.cfg.MQTTCert, t.cfg.MQTTKey)
	if err != nil {
		return nil, fmt.Errorf("mqtt %w", err)
	}
	return cfg, nil
}

// Preflight probes every configured endpoint with a real request: MQTT CONNACK,
// Kafka metadata including the topic, a CQL query, the API's /healthz.
func (t *Target) Preflight(ctx context.Context) Report {
	var r Report
	add := func(stage, addr string, err error, ok string) {
		c := Check{Stage: stage, Address: addr, OK: err == nil, Detail: ok}
		if err != nil {
			c.Detail = err.Error()
		}
		r.Checks = append(r.Checks, c)
	}
	probe := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, t.checkTimeout) }

	if len(t.cfg.MQTTURLs) == 0 {
		add("mqtt", "-", errors.New("no MQTT URL configured (CITYBENCH_MQTT_URL): devices need a broker"), "")
	}
	tlsCfg, tlsErr := t.tlsConfig()
	for _, u := range t.cfg.MQTTURLs {
		if tlsErr != nil {
			add("mqtt", u, tlsErr, "")
			continue
		}
		pctx, cancel := probe()
		add("mqtt", u, testcontainers.MQTTConnect(pctx, u, tlsCfg, t.cfg.MQTTUsername, t.cfg.MQTTPassword), "CONNACK accepted")
		cancel()
	}
	kafkaSec, kafkaErr := t.cfg.serviceConfig().KafkaSecurity()
	var dialer *kafka.Dialer
	if kafkaErr == nil {
		dialer, kafkaErr = kafkaSec.Dialer(t.checkTimeout)
	}
	for _, b := range t.cfg.KafkaBrokers {
		if kafkaErr != nil {
			add("kafka", b, kafkaErr, "")
			continue
		}
		pctx, cancel := probe()
		n, err := kafkaTopic(pctx, dialer, b, t.cfg.KafkaTopic)
		add("kafka", b, err, fmt.Sprintf("metadata lists topic %s with %d partitions", t.cfg.KafkaTopic, n))
		cancel()
	}
	auth, cqlErr := t.cfg.cqlAuth()
	for _, h := range t.cfg.CassandraHosts {
		addr := h
		if _, _, err := net.SplitHostPort(h); err != nil {
			addr = net.JoinHostPort(h, "9042")
		}
		if cqlErr != nil {
			add("cassandra", addr, cqlErr, "")
			continue
		}
		pctx, cancel := probe()
		v, err := testcontainers.CQLQuery(pctx, addr, auth)
		add("cassandra", addr, err, "CQL answers, release "+v)
		cancel()
	}
	if t.cfg.APIURL != "" {
		pctx, cancel := probe()
		add("api", t.cfg.APIURL, healthz(pctx, t.cfg.APIURL), "/healthz answers 2xx")
		cancel()
	}
	t.mu.Lock()
	t.last = r
	t.mu.Unlock()
	return r
}

func kafkaTopic(ctx context.Context, d *kafka.Dialer, bootstrap, topic string) (int, error) {
	conn, err := d.DialContext(ctx, "tcp", bootstrap)
	if err != nil {
		return 0, fmt.Errorf("dial: %w", err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	parts, err := conn.ReadPartitions(topic)
	if err != nil {
		return 0, fmt.Errorf("topic %s: %w", topic, err)
	}
	if len(parts) == 0 {
		return 0, fmt.Errorf("topic %s does not exist", topic)
	}
	return len(parts), nil
}

func healthz(ctx context.Context, base string) error {
	return testcontainers.HTTPOK(ctx, strings.TrimRight(base, "/")+"/healthz")
}

// ErrUnreachable is returned by Start when a configured endpoint does not answer.
var ErrUnreachable = errors.New("external target: endpoints not reachable")

// Start runs the preflight and refuses, listing every failed check, unless all
// configured endpoints answer; then it opens the store for read-back.
func (t *Target) Start(ctx context.Context) (target.Endpoints, error) {
	r := t.Preflight(ctx)
	for _, c := range r.Checks {
		t.log.Info("preflight", "stage", c.Stage, "address", c.Address, "ok", c.OK, "detail", c.Detail)
	}
	if !r.OK() {
		return target.Endpoints{}, fmt.Errorf("%w:\n%s", ErrUnreachable, r)
	}
	tlsCfg, err := t.tlsConfig()
	if err != nil {
		return target.Endpoints{}, err
	}
	kafkaSec, err := t.cfg.serviceConfig().KafkaSecurity()
	if err != nil {
		return target.Endpoints{}, err
	}
	ep := target.Endpoints{
		KafkaSecurity: kafkaSec,
		MQTTURLs:      t.cfg.MQTTURLs,
		MQTTUsername:  t.cfg.MQTTUsername,
		MQTTPassword:  t.cfg.MQTTPassword,
		TLS:           tlsCfg,
		KafkaBrokers:  t.cfg.KafkaBrokers,
		KafkaTopic:    t.cfg.KafkaTopic,
		APIURL:        t.cfg.APIURL,
	}
	ep.KafkaDeadLetterTopic = t.cfg.KafkaDLQTopic
	if len(t.cfg.KafkaBrokers) == 0 {
		ep.KafkaTopic, ep.KafkaDeadLetterTopic = "", ""
	}
	if len(t.cfg.CassandraHosts) > 0 {
		auth, err := t.cfg.cqlAuth()
		if err != nil {
			return target.Endpoints{}, err
		}
		st, err := cassandra.Open(ctx, cassandra.Config{Hosts: t.cfg.CassandraHosts, Keyspace: t.cfg.CassandraKeyspace,
			Username: auth.Username, Password: auth.Password, TLS: auth.TLS, Logger: t.log})
		if err != nil {
			return target.Endpoints{}, fmt.Errorf("external target: open store: %w", err)
		}
		t.mu.Lock()
		t.store = st
		t.mu.Unlock()
		ep.Store = st
	}
	return ep, nil
}

// Describe says what was measured and how its clock relates.
func (t *Target) Describe() result.Target {
	top := map[string]string{"mqtt_urls": strings.Join(t.cfg.MQTTURLs, ",")}
	if len(t.cfg.KafkaBrokers) > 0 {
		top["kafka_brokers"] = strings.Join(t.cfg.KafkaBrokers, ",")
		top["kafka_topic"] = t.cfg.KafkaTopic
	}
	if len(t.cfg.CassandraHosts) > 0 {
		top["cassandra_hosts"] = strings.Join(t.cfg.CassandraHosts, ",")
		top["cassandra_keyspace"] = t.cfg.CassandraKeyspace
	}
	if t.cfg.APIURL != "" {
		top["api_url"] = t.cfg.APIURL
	}
	return result.Target{
		Kind:     "external",
		Note:     "user-supplied endpoints; stages not configured are not measured",
		Topology: top,
		ClockNote: "taps run on the harness host and timestamp with its clock; the store stage uses the " +
			"Cassandra coordinators' clocks, so host clock offset shows up in store latency (negative latencies are counted, not dropped)",
	}
}

// Components lists what was configured; versions of a system we do not run are unknown.
func (t *Target) Components() map[string]string {
	out := map[string]string{"mqtt": "external"}
	if len(t.cfg.KafkaBrokers) > 0 {
		out["kafka"] = "external"
	}
	if len(t.cfg.CassandraHosts) > 0 {
		out["cassandra"] = "external"
	}
	if t.cfg.APIURL != "" {
		out["api"] = "external"
	}
	return out
}

// Counters: an external pipeline's own counters are not visible to citybench.
func (t *Target) Counters(context.Context) map[string]int64 { return map[string]int64{} }

// Stop closes the read-back store; the user's pipeline is left running.
func (t *Target) Stop(context.Context) error {
	t.mu.Lock()
	st := t.store
	t.store = nil
	t.mu.Unlock()
	if st != nil {
		return st.Close()
	}
	return nil
}
