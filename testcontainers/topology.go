package testcontainers

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/citybench/citybench/scenarios"
)

// Topology is a scenario's target block with every default applied.
type Topology struct {
	Broker            string // mosquitto | hivemq
	Brokers           int    // brokers of that kind, one per city domain, each with its own bridges
	KafkaBrokers      int
	Partitions        int
	ReplicationFactor int
	MinInsyncReplicas int
	CassandraNodes    int
	BridgeReplicas    int
	SinkReplicas      int
	SinkMaxWriteRate  float64 // rows/s per sink instance, 0: no cap
	Security          string  // none | tls
	KafkaTopic        string
}

// TopologyFrom applies defaults to t and validates the result, returning every
// problem at once. Without a device count the broker tier has target.brokers
// brokers, or one.
func TopologyFrom(t scenarios.Target) (Topology, error) { return TopologyFor(t, 0) }

// TopologyFor is TopologyFrom for a run of devices devices: unless target.brokers
// pins the count, the broker tier gets as many brokers as the devices need.
func TopologyFor(t scenarios.Target, devices int) (Topology, error) {
	top := Topology{
		Broker:            t.Broker,
		Brokers:           t.Brokers,
		KafkaBrokers:      t.KafkaBrokers,
		Partitions:        t.Partitions,
		ReplicationFactor: t.ReplicationFactor,
		MinInsyncReplicas: t.MinInsyncReplicas,
		CassandraNodes:    t.CassandraNodes,
		BridgeReplicas:    t.BridgeReplicas,
		SinkReplicas:      t.SinkReplicas,
		SinkMaxWriteRate:  t.SinkMaxWriteRate,
		Security:          t.Security,
		KafkaTopic:        t.KafkaTopic,
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	if top.Broker == "" {
		top.Broker = CompMosquitto
	}
	def(&top.KafkaBrokers, 3)
	def(&top.Partitions, 6)
	// A replication factor above the broker count cannot be satisfied, so the default
	// follows a smaller cluster down rather than failing it.
	def(&top.ReplicationFactor, min(3, top.KafkaBrokers))
	def(&top.MinInsyncReplicas, min(2, top.ReplicationFactor))
	def(&top.CassandraNodes, 1)
	def(&top.BridgeReplicas, 1)
	def(&top.SinkReplicas, 1)
	if top.Security == "" {
		top.Security = "none"
	}
	if top.KafkaTopic == "" {
		top.KafkaTopic = "readings"
	}
	if top.Brokers == 0 {
		top.Brokers = max(1, ceilDiv(devices, top.BrokerBudget()))
	}

	var errs []error
	if top.Broker != CompMosquitto && top.Broker != CompHiveMQ {
		errs = append(errs, fmt.Errorf("broker %q: want mosquitto or hivemq", top.Broker))
	}
	if top.Security != "none" && top.Security != "tls" {
		errs = append(errs, fmt.Errorf("security %q: want none or tls", top.Security))
	}
	for _, f := range []struct {
		name string
		v    int
	}{
		{"brokers", top.Brokers}, {"kafka_brokers", top.KafkaBrokers}, {"partitions", top.Partitions},
		{"replication_factor", top.ReplicationFactor}, {"min_insync_replicas", top.MinInsyncReplicas},
		{"cassandra_nodes", top.CassandraNodes}, {"bridge_replicas", top.BridgeReplicas},
		{"sink_replicas", top.SinkReplicas},
	} {
		if f.v < 1 {
			errs = append(errs, fmt.Errorf("%s = %d: must be at least 1", f.name, f.v))
		}
	}
	if top.ReplicationFactor > top.KafkaBrokers {
		errs = append(errs, fmt.Errorf("replication_factor %d exceeds kafka_brokers %d", top.ReplicationFactor, top.KafkaBrokers))
	}
	if top.MinInsyncReplicas > top.ReplicationFactor {
		errs = append(errs, fmt.Errorf("min_insync_replicas %d exceeds replication_factor %d: every acks=all write would fail", top.MinInsyncReplicas, top.ReplicationFactor))
	}
	if top.Brokers > scenarios.MaxBrokers {
		errs = append(errs, fmt.Errorf("brokers = %d: at most %d", top.Brokers, scenarios.MaxBrokers))
	}
	return top, errors.Join(errs...)
}

func ceilDiv(a, b int) int { return (a + b - 1) / max(b, 1) }

// Map is the topology as result metadata.
func (t Topology) Map() map[string]string {
	m := map[string]string{
		"broker":              t.Broker,
		"brokers":             strconv.Itoa(t.Brokers),
		"kafka_brokers":       strconv.Itoa(t.KafkaBrokers),
		"partitions":          strconv.Itoa(t.Partitions),
		"replication_factor":  strconv.Itoa(t.ReplicationFactor),
		"min_insync_replicas": strconv.Itoa(t.MinInsyncReplicas),
		"cassandra_nodes":     strconv.Itoa(t.CassandraNodes),
		"bridge_replicas":     strconv.Itoa(t.BridgeReplicas),
		"sink_replicas":       strconv.Itoa(t.SinkReplicas),
		"security":            t.Security,
		"kafka_topic":         t.KafkaTopic,
	}
	if t.SinkMaxWriteRate > 0 {
		m["sink_max_write_rate"] = strconv.FormatFloat(t.SinkMaxWriteRate, 'f', -1, 64)
	}
	return m
}
