// Package scenarios defines the scenario file: what city devices to simulate, how
// load changes over time, where to send it and which SLOs to judge. It loads,
// defaults and validates YAML; it computes nothing about the run itself.
package scenarios

import (
	"slices"
	"time"
)

// Scenario is one scenario file.
type Scenario struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description,omitempty"`
	Seed        int64  `yaml:"seed"`
	// Warmup runs load before the measured window; its samples are discarded.
	Warmup Duration `yaml:"warmup,omitempty"`
	// Phases run in order; their durations add up to the run's duration. A file
	// with only `duration:` gets one "steady" phase.
	Duration Duration `yaml:"duration,omitempty"`
	Phases   []Phase  `yaml:"phases,omitempty"`
	Fleets   []Fleet  `yaml:"fleets"`
	Target   Target   `yaml:"target"`
	SLOs     []string `yaml:"slos,omitempty"` // e.g. "store.latency.p99 < 500ms", "store.loss == 0"
	// AvailabilityDeadline is the latency within which a delivery counts as available.
	AvailabilityDeadline Duration `yaml:"availability_deadline,omitempty"` // default 5s
	// GeneratorLagBound flags the run as generator-saturated when generator lag p99 exceeds it.
	GeneratorLagBound Duration `yaml:"generator_lag_bound,omitempty"` // default 100ms
	// Drain is how long the harness waits after the last send for stages to catch up.
	Drain Duration `yaml:"drain,omitempty"` // default 10s
	// APISample is the fraction of devices whose readings the API tap polls.
	APISample float64 `yaml:"api_sample,omitempty"` // default 0.02
	// Faults are timed actions on the system under test (see faults.go).
	Faults []Fault `yaml:"faults,omitempty"`

	// File and Hash are set by the loader (path and sha256 of the bytes read).
	File string `yaml:"-"`
	Hash string `yaml:"-"`

	// lines maps field paths to their line in File, for error messages and to
	// tell an explicit zero from an absent field when applying defaults.
	lines map[string]int
}

// Phase changes the offered load for a while. RateFactor multiplies every fleet's
// nominal rate; ActiveFraction is the share of each fleet's devices that send.
// A ramp goes linearly from the previous phase's values to this phase's.
type Phase struct {
	Name           string   `yaml:"name"` // ramp-up, steady, burst, cool-down or any label
	Duration       Duration `yaml:"duration"`
	RateFactor     float64  `yaml:"rate_factor,omitempty"`     // default 1
	ActiveFraction float64  `yaml:"active_fraction,omitempty"` // default 1
	Ramp           bool     `yaml:"ramp,omitempty"`
}

// Fleet is a group of identical devices.
type Fleet struct {
	Name    string `yaml:"name"`
	Devices int    `yaml:"devices"`
	Model   string `yaml:"model"`
	// Topic is a template, e.g. "hypo_city/{city}/{street}/{group}/{metric}" or
	// "/{zip}/{building}/{floor}/{node}/environment". {device} is the device id,
	// {metric} the metric (one message per metric), {fleet} the fleet name,
	// {index} the device's index in its fleet; any other placeholder takes its
	// value from Locations, chosen deterministically by device index.
	Topic     string              `yaml:"topic"`
	Locations map[string][]string `yaml:"locations,omitempty"`
	Codec     string              `yaml:"codec"` // json | protobuf | text
	QoS       int                 `yaml:"qos"`
	Retain    bool                `yaml:"retain,omitempty"`
	// CleanSession false keeps a persistent MQTT session across reconnects.
	CleanSession *bool    `yaml:"clean_session,omitempty"` // default true
	KeepAlive    Duration `yaml:"keep_alive,omitempty"`    // default 30s
	Will         *Will    `yaml:"will,omitempty"`
	// Connection is "persistent" (connect once) or "connect-send-disconnect" (the
	// alert-based testbench's nodes: connect, publish, disconnect for each message).
	Connection string    `yaml:"connection,omitempty"` // default persistent
	Username   string    `yaml:"username,omitempty"`
	Password   string    `yaml:"password,omitempty"`
	Sensors    []Sensor  `yaml:"sensors"`
	Arrival    Arrival   `yaml:"arrival"`
	Severity   *Severity `yaml:"severity,omitempty"`
	// Replay, when set, takes the fleet's values and send times from a recorded
	// file instead of its sensors' distributions and its arrival (see replay.go).
	Replay *Replay `yaml:"replay,omitempty"`
	// Malformed is the fraction of the fleet's messages sent deliberately
	// malformed, of the kinds in MalformedKinds (default: every kind), to
	// measure what the pipeline does with bad input (see malformed.go).
	Malformed      float64  `yaml:"malformed,omitempty"`
	MalformedKinds []string `yaml:"malformed_kinds,omitempty"`
	// Protocol is the MQTT version the devices speak: "3.1.1" or "5" (see devices.go).
	Protocol string `yaml:"protocol,omitempty"` // default 3.1.1
	// MQTT5 tunes protocol 5 sessions and publishes.
	MQTT5 *MQTT5 `yaml:"mqtt5,omitempty"`
	// Reconnect drops the fleet's connections at a moment and reconnects them.
	Reconnect *Reconnect `yaml:"reconnect,omitempty"`
}

// Will is an MQTT last will.
type Will struct {
	Topic   string `yaml:"topic"`
	Payload string `yaml:"payload"`
	QoS     int    `yaml:"qos"`
	Retain  bool   `yaml:"retain,omitempty"`
}

// Sensor is one metric a device samples, from a normal distribution clamped to [Min, Max].
type Sensor struct {
	Metric string   `yaml:"metric"`
	Mean   float64  `yaml:"mean"`
	StdDev float64  `yaml:"stddev"`
	Min    *float64 `yaml:"min,omitempty"`
	Max    *float64 `yaml:"max,omitempty"`
	Unit   string   `yaml:"unit,omitempty"`
}

// Arrival says when a device sends: "fixed" every Interval ± Jitter, "poisson"
// with mean Interval, or "burst": Count messages back to back, as fast as the
// client allows with at most Inflight unacknowledged (closed loop, like the
// alert-based testbench's clients, which waited for each QoS 2 handshake).
type Arrival struct {
	Kind     string   `yaml:"kind"` // fixed | poisson | burst
	Interval Duration `yaml:"interval,omitempty"`
	Jitter   Duration `yaml:"jitter,omitempty"`
	// Count is how many messages each device of a burst fleet sends.
	Count int `yaml:"count,omitempty"`
	// Inflight bounds a burst device's unacknowledged messages (default 1).
	Inflight int `yaml:"inflight,omitempty"`
	// Start spreads a burst fleet's devices evenly over [0, Start) instead of
	// starting them all at once.
	Start Duration `yaml:"start,omitempty"`
}

// Burst reports whether the fleet sends closed-loop bursts.
func (a Arrival) Burst() bool { return a.Kind == ArrivalBurst }

// ClosedLoop reports whether any fleet sends closed-loop bursts.
func (s *Scenario) ClosedLoop() bool {
	return slices.ContainsFunc(s.Fleets, func(f Fleet) bool { return f.Arrival.Burst() })
}

// Severity switches a device's sampling interval by the trend of one metric, as the
// alert-based testbench's nodes do: NORMAL, WARNING and DANGER each have an
// interval and the threshold at which the metric enters them.
type Severity struct {
	Metric string         `yaml:"metric"`
	Modes  []SeverityMode `yaml:"modes"` // in increasing severity
	// Trend is added to the metric's mean per sample, so readings drift into higher modes.
	Trend float64 `yaml:"trend,omitempty"`
}

// SeverityMode is one severity level.
type SeverityMode struct {
	Name     string   `yaml:"name"`     // NORMAL | WARNING | DANGER
	Above    float64  `yaml:"above"`    // the mode applies when the metric is above this
	Interval Duration `yaml:"interval"` // sampling interval in this mode
}

// Target selects the system under test.
type Target struct {
	Kind string `yaml:"kind"` // embedded | containers | external
	// Broker is the MQTT broker kind for containers: mosquitto | hivemq.
	Broker            string `yaml:"broker,omitempty"`
	KafkaBrokers      int    `yaml:"kafka_brokers,omitempty"`      // default 3
	Partitions        int    `yaml:"partitions,omitempty"`         // default 6
	ReplicationFactor int    `yaml:"replication_factor,omitempty"` // default 3
	MinInsyncReplicas int    `yaml:"min_insync_replicas,omitempty"`
	CassandraNodes    int    `yaml:"cassandra_nodes,omitempty"` // default 1
	// Brokers pins how many MQTT brokers the containers target runs, one per city
	// domain, each with its own bridge (0, the default: as many as the devices
	// need; see docs/scale.md). Devices are spread over them by location.
	Brokers        int `yaml:"brokers,omitempty"`
	BridgeReplicas int `yaml:"bridge_replicas,omitempty"` // default 1, per broker
	SinkReplicas   int `yaml:"sink_replicas,omitempty"`   // default 1
	// SinkMaxWriteRate caps each sink instance's store writes in rows/s (the
	// sink's own setting; 0, the default, is no cap).
	SinkMaxWriteRate float64 `yaml:"sink_max_write_rate,omitempty"`
	Security         string  `yaml:"security,omitempty"`    // none | tls
	KafkaTopic       string  `yaml:"kafka_topic,omitempty"` // default "readings"
}

// Duration is a time.Duration written as "500ms", "2s", "1m".
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }
