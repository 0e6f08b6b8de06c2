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

// Target runs pipeline/embedded.
type Target struct {
	codec      string
	template   string // the fleets' common topic template ("" when they differ)
	tls        bool
	partitions int
	bridges    int
	sinks      int
	log        *slog.Logger
	p          *embedded.Pipeline
}

// New builds the embedded target for a scenario. Every fleet must use the same
// codec: the reference bridge validates one payload format.
func New(sc *scenarios.Scenario, log *slog.Logger) (*Target, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := &Target{partitions: sc.Target.Partitions, bridges: max(sc.Target.BridgeReplicas, 1), sinks: max(sc.Target.SinkReplicas, 1), log: log}
	t.tls = sc.Target.Security == "tls"
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

// Start brings the pipeline up.
func (t *Target) Start(ctx context.Context) (target.Endpoints, error) {
	cd, err := codec.ByName(t.codec)
	if err != nil {
		return target.Endpoints{}, err
	}
	opts := []embedded.Option{embedded.WithCodec(cd), embedded.WithLogger(t.log), embedded.WithBridges(t.bridges), embedded.WithSinks(t.sinks)}
	if t.partitions > 0 {
		opts = append(opts, embedded.WithPartitions(t.partitions))
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
	return target.Endpoints{
		MQTTURLs:     []string{p.MQTTURL},
		KafkaBrokers: p.KafkaBrokers,
		KafkaTopic:   p.Topic,
		Store:        p.Store,
		APIURL:       p.APIURL,
		TLS:          p.ClientTLS,
		MQTTUsername: p.MQTTUsername,
		MQTTPassword: p.MQTTPassword,
	}, nil
}

// Describe says what runs.
func (t *Target) Describe() result.Target {
	return result.Target{
		Kind: "embedded",
		Note: Note,
		Topology: map[string]string{
			"broker":             "mochi-mqtt (in process)",
			"kafka":              "franz-go kfake (in process)",
			"kafka_brokers":      "3",
			"replication_factor": "3",
			"partitions":         strconv.Itoa(cmp.Or(t.partitions, embedded.DefaultPartitions)),
			"security":           map[bool]string{true: "tls + password", false: "none"}[t.tls],
			"store":              "memory",
			"bridges":            strconv.Itoa(t.bridges),
			"sinks":              strconv.Itoa(t.sinks),
			"codec":              t.codec,
		},
		ClockNote: "every stage is timed on one host clock (one process)",
	}
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
