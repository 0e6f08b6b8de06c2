// Package embedded is the zero-setup target: the whole reference pipeline in the
// harness's own process, on loopback ports.
package embedded

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/citybench/citybench/harness/target"
	"github.com/citybench/citybench/pipeline/codec"
	"github.com/citybench/citybench/pipeline/embedded"
	"github.com/citybench/citybench/pipeline/topics"
	"github.com/citybench/citybench/reports/result"
	"github.com/citybench/citybench/scenarios"
)

// Note is printed on every embedded result.
const Note = "embedded — not representative of production capacity: broker, Kafka (in-process kfake), store (memory) and harness share one process and its CPUs"

// tapConnections is a generous count of the harness's own MQTT clients (the
// broker, dead-letter and downlink taps, the commander).
const tapConnections = 8

// Target runs pipeline/embedded.
type Target struct {
	codec        string
	template     string // the fleets' common topic template ("" when they differ)
	tls          bool
	kafkaBrokers int
	replication  int
	partitions   int
	kafkaTopic   string
	bridges      int
	sinks        int
	sinkCap      float64  // rows/s per sink instance, 0: no cap
	control      []string // the devices' control-plane topic filters, which the bridges leave alone
	retention    time.Duration
	devices      int // the scenario's devices, each one of the broker's clients
	log          *slog.Logger
	p            *embedded.Pipeline
}

// New builds the embedded target for a scenario. Every fleet must use the same
// codec: the reference bridge validates one payload format. The target block's
// Kafka brokers, replication factor, partitions, topic, bridge and sink replicas
// and security are honoured; scenario validation refuses the fields this target
// cannot honour (broker, cassandra_nodes, min_insync_replicas).
func New(sc *scenarios.Scenario, log *slog.Logger) (*Target, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	st := sc.Target
	brokers := cmp.Or(st.KafkaBrokers, embedded.DefaultKafkaBrokers)
	t := &Target{
		kafkaBrokers: brokers,
		replication:  cmp.Or(st.ReplicationFactor, min(scenarios.DefaultReplicationFactor, brokers)),
		partitions:   cmp.Or(st.Partitions, embedded.DefaultPartitions),
		kafkaTopic:   cmp.Or(st.KafkaTopic, embedded.DefaultTopic),
		bridges:      max(st.BridgeReplicas, 1),
		sinks:        max(st.SinkReplicas, 1),
		sinkCap:      st.SinkMaxWriteRate,
		retention:    Retention(sc),
		devices:      sc.Devices(),
		log:          log,
	}
	t.tls = sc.Target.Security == "tls"
	t.control = sc.ControlFilters()
	t.codec, t.template = sc.Payloads()
	if t.codec == "" && len(sc.Fleets) > 0 {
		var codecs []string
		for _, f := range sc.Fleets {
			codecs = append(codecs, f.Name+": "+f.Codec)
		}
		return nil, fmt.Errorf("embedded target: fleets use different codecs (%s); the reference pipeline runs one codec per deployment — split the scenario", strings.Join(codecs, ", "))
	}
	return t, nil
}

// Retention bounds (minimum and margin) of what the pipeline keeps. Expiry is
// never early (only late, by up to one retention check), so the margin is slack
// for the run's own bookkeeping, not for the pipeline.
const (
	minRetention    = time.Minute
	retentionMargin = 10 * time.Second
)

// Retention is what the pipeline keeps of its Kafka records and stored readings:
// longer than one run of sc can take from its first send to the taps' last read
// (warm-up and load, a load running late by up to the drain bound, then the
// drain), so nothing a tap has still to see expires, yet bounded by one run and
// not by how many runs a shared topology serves (a capacity search), as a
// production deployment is bounded by its retention, not by its uptime.
func Retention(sc *scenarios.Scenario) time.Duration {
	return max(sc.Total()+2*sc.Drain.D(), minRetention) + retentionMargin
}

// Start brings the pipeline up.
func (t *Target) Start(ctx context.Context) (target.Endpoints, error) {
	cd, err := codec.ByName(t.codec)
	if err != nil {
		return target.Endpoints{}, err
	}
	opts := []embedded.Option{
		embedded.WithCodec(cd), embedded.WithLogger(t.log), embedded.WithBridges(t.bridges), embedded.WithSinks(t.sinks),
		embedded.WithSinkMaxWriteRate(t.sinkCap),
		embedded.WithKafkaBrokers(t.kafkaBrokers), embedded.WithReplicationFactor(t.replication),
		embedded.WithPartitions(t.partitions), embedded.WithTopic(t.kafkaTopic),
		embedded.WithIgnoredTopics(t.control...), embedded.WithRetention(t.retention),
		embedded.WithConnections(t.devices + t.bridges + tapConnections),
	}
	if t.tls {
		// security: tls means what it means on the containers target: TLS and a password.
		opts = append(opts, embedded.WithTLS(), embedded.WithPassword())
	}
	// A city deploys its bridge for its topic layout: with one layout across the
	// fleets the bridge routes by it and carries the location to the device table.
	if t.template != "" {
		tpl, err := topics.Parse(t.template)
		if err != nil {
			return target.Endpoints{}, fmt.Errorf("embedded target: topic template %q: %w", t.template, err)
		}
		opts = append(opts, embedded.WithTopicTemplate(tpl))
	}
	p, err := embedded.Start(ctx, opts...)
	if err != nil {
		return target.Endpoints{}, fmt.Errorf("start embedded pipeline: %w", err)
	}
	t.p = p
	eps := target.Endpoints{
		MQTTURLs:     []string{p.MQTTURL},
		KafkaBrokers: p.KafkaBrokers,
		KafkaTopic:   p.Topic,
		SinkGroup:    p.SinkGroup,
		Store:        p.Store,
		APIURL:       p.APIURL,
		TLS:          p.ClientTLS,
		MQTTUsername: p.MQTTUsername,
		MQTTPassword: p.MQTTPassword,
	}
	eps.KafkaDeadLetterTopic = p.DeadLetterTopic
	return eps, nil
}

// Describe says what runs.
func (t *Target) Describe() result.Target {
	d := result.Target{
		Kind: "embedded",
		Note: Note,
		Topology: map[string]string{
			"broker":             "mochi-mqtt (in process)",
			"kafka":              "franz-go kfake (in process; one copy of each partition, replicas exist in metadata only)",
			"kafka_brokers":      strconv.Itoa(t.kafkaBrokers),
			"replication_factor": strconv.Itoa(t.replication),
			"partitions":         strconv.Itoa(t.partitions),
			"kafka_topic":        t.kafkaTopic,
			"security":           map[bool]string{true: "tls + password", false: "none"}[t.tls],
			"store":              "memory",
			"retention":          t.retention.String() + " (Kafka retention.ms and the store's time to live)",
			"bridges":            strconv.Itoa(t.bridges),
			"sinks":              strconv.Itoa(t.sinks),
			"codec":              t.codec,
		},
		ClockNote: "every stage is timed on one host clock (one process)",
	}
	if t.sinkCap > 0 {
		d.Topology["sink_max_write_rate"] = strconv.FormatFloat(t.sinkCap, 'f', -1, 64)
	}
	return d
}

// Components lists what runs (versions come from the harness's build information).
func (t *Target) Components() map[string]string {
	return map[string]string{"pipeline": "citybench reference pipeline (embedded)"}
}

// Counters returns the pipeline's own counters: broker drops, bridge and sink totals.
func (t *Target) Counters(context.Context) map[string]int64 {
	if t.p == nil {
		return nil
	}
	return t.p.Counters()
}

// StallStore blocks store writes for d, as a slow or paused database would.
func (t *Target) StallStore(_ context.Context, d time.Duration) error {
	if t.p == nil {
		return errors.New("embedded target not started")
	}
	t.p.Store.Stall(d)
	return nil
}

// Stop tears the pipeline down.
func (t *Target) Stop(ctx context.Context) error {
	if t.p == nil {
		return nil
	}
	return t.p.Close(ctx)
}

var (
	_ target.Target  = (*Target)(nil)
	_ target.Staller = (*Target)(nil)
)
