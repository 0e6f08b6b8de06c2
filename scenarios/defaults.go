package scenarios

import (
	"fmt"
	"time"
)

// Defaults applied to fields a file leaves out.
const (
	DefaultRateFactor           = 1.0
	DefaultActiveFraction       = 1.0
	DefaultKeepAlive            = 30 * time.Second
	DefaultConnection           = ConnectionPersistent
	DefaultAvailabilityDeadline = 5 * time.Second
	DefaultGeneratorLagBound    = 100 * time.Millisecond
	DefaultDrain                = 10 * time.Second
	DefaultAPISample            = 0.02
	DefaultTargetKind           = TargetEmbedded
	DefaultKafkaBrokers         = 3
	DefaultPartitions           = 6
	DefaultReplicationFactor    = 3
	DefaultMinInsyncReplicas    = 2
	DefaultCassandraNodes       = 1
	DefaultReplicas             = 1
	DefaultKafkaTopic           = "readings"
	DefaultArrival              = ArrivalFixed
	DefaultInflight             = 1
	DefaultSecurity             = SecurityNone
	// DefaultPhaseName names the single phase of a file that gives only `duration:`.
	DefaultPhaseName = "steady"
)

// Enumerated values.
const (
	CodecJSON     = "json"
	CodecProtobuf = "protobuf"
	CodecText     = "text"

	ConnectionPersistent            = "persistent"
	ConnectionConnectSendDisconnect = "connect-send-disconnect"

	ArrivalFixed   = "fixed"
	ArrivalPoisson = "poisson"
	ArrivalBurst   = "burst"

	TargetEmbedded   = "embedded"
	TargetContainers = "containers"
	TargetExternal   = "external"

	BrokerMosquitto = "mosquitto"
	BrokerHiveMQ    = "hivemq"

	SecurityNone = "none"
	SecurityTLS  = "tls"
)

// SetDefaults fills every field left out. Parse calls it; call it yourself on a
// Scenario built in Go before Validate. In a file, a field written as 0 stays 0
// (api_sample: 0 turns the API tap off); in Go, zero means absent.
func (s *Scenario) SetDefaults() { s.setDefaults() }

func (s *Scenario) setDefaults() {
	if s.Name == "" && s.File != "" {
		s.Name = scenarioName(s.File)
	}
	if len(s.Phases) == 0 && s.Duration > 0 && !s.has("phases") {
		s.Phases = []Phase{{Name: DefaultPhaseName, Duration: s.Duration}}
	}
	for i := range s.Phases {
		ph := &s.Phases[i]
		p := fmt.Sprintf("phases[%d]", i)
		if ph.Name == "" && !s.has(p+".name") {
			ph.Name = fmt.Sprintf("phase-%d", i+1)
		}
		defFloat(s, &ph.RateFactor, p+".rate_factor", DefaultRateFactor)
		defFloat(s, &ph.ActiveFraction, p+".active_fraction", DefaultActiveFraction)
	}
	if s.Duration == 0 && !s.has("duration") {
		var sum Duration
		for _, ph := range s.Phases {
			sum += ph.Duration
		}
		s.Duration = sum
	}
	defDuration(s, &s.AvailabilityDeadline, "availability_deadline", DefaultAvailabilityDeadline)
	defDuration(s, &s.GeneratorLagBound, "generator_lag_bound", DefaultGeneratorLagBound)
	defDuration(s, &s.Drain, "drain", DefaultDrain)
	defFloat(s, &s.APISample, "api_sample", DefaultAPISample)

	for i := range s.Fleets {
		f := &s.Fleets[i]
		p := fmt.Sprintf("fleets[%d]", i)
		if f.Model == "" && !s.has(p+".model") {
			f.Model = f.Name
		}
		if f.CleanSession == nil {
			t := true
			f.CleanSession = &t
		}
		defDuration(s, &f.KeepAlive, p+".keep_alive", DefaultKeepAlive)
		defString(s, &f.Connection, p+".connection", DefaultConnection)
		defString(s, &f.Arrival.Kind, p+".arrival.kind", DefaultArrival)
		if f.Replay != nil && f.Replay.Speedup > 0 {
			f.Arrival.Interval = Duration(f.Replay.Interval()) // one recorded day, for the nominal rate
		}
		defString(s, &f.Protocol, p+".protocol", DefaultProtocol)
		s.reconnectDefaults(p, f.Reconnect)
		if f.Arrival.Burst() {
			defInt(s, &f.Arrival.Inflight, p+".arrival.inflight", DefaultInflight)
		}
		// A severity-driven fleet samples at its first (calmest) mode's interval
		// until the metric says otherwise.
		if f.Severity != nil && len(f.Severity.Modes) > 0 {
			defDuration(s, &f.Arrival.Interval, p+".arrival.interval", f.Severity.Modes[0].Interval.D())
		}
	}

	t := &s.Target
	defString(s, &t.Kind, "target.kind", DefaultTargetKind)
	defInt(s, &t.KafkaBrokers, "target.kafka_brokers", DefaultKafkaBrokers)
	defInt(s, &t.Partitions, "target.partitions", DefaultPartitions)
	// With fewer brokers than the default factor, the default shrinks to fit
	// rather than producing an error about a field the user never wrote.
	defInt(s, &t.ReplicationFactor, "target.replication_factor", min(DefaultReplicationFactor, max(t.KafkaBrokers, 1)))
	defInt(s, &t.MinInsyncReplicas, "target.min_insync_replicas", min(DefaultMinInsyncReplicas, max(t.ReplicationFactor, 1)))
	defInt(s, &t.CassandraNodes, "target.cassandra_nodes", DefaultCassandraNodes)
	defInt(s, &t.BridgeReplicas, "target.bridge_replicas", DefaultReplicas)
	defInt(s, &t.SinkReplicas, "target.sink_replicas", DefaultReplicas)
	defString(s, &t.Security, "target.security", DefaultSecurity)
	defString(s, &t.KafkaTopic, "target.kafka_topic", DefaultKafkaTopic)
}

func defFloat(s *Scenario, v *float64, path string, def float64) {
	if *v == 0 && !s.has(path) {
		*v = def
	}
}

func defInt(s *Scenario, v *int, path string, def int) {
	if *v == 0 && !s.has(path) {
		*v = def
	}
}

func defString(s *Scenario, v *string, path, def string) {
	if *v == "" && !s.has(path) {
		*v = def
	}
}

func defDuration(s *Scenario, v *Duration, path string, def time.Duration) {
	if *v == 0 && !s.has(path) {
		*v = Duration(def)
	}
}
