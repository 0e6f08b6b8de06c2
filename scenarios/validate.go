package scenarios

import (
	"fmt"
	"github.com/citybench/citybench/pipeline/topics"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Validate checks the whole scenario and returns every problem at once as
// ValidationErrors, or nil. Call SetDefaults first on a Scenario built in Go.
func (s *Scenario) Validate() error {
	v := &validator{s: s}
	v.top()
	v.phases()
	names := map[string]int{}
	for i := range s.Fleets {
		f := &s.Fleets[i]
		p := fmt.Sprintf("fleets[%d]", i)
		if prev, dup := names[f.Name]; dup && f.Name != "" {
			v.add(p+".name", "fleet name %q already used by fleets[%d]", f.Name, prev)
		} else {
			names[f.Name] = i
		}
		v.fleet(p, f)
	}
	v.burstProfile()
	v.target()
	v.slos()
	v.faults()
	if len(v.errs) == 0 {
		return nil
	}
	return v.errs.sorted()
}

type validator struct {
	s    *Scenario
	errs ValidationErrors
}

func (v *validator) add(path, format string, args ...any) {
	v.errs = append(v.errs, &FieldError{File: v.s.File, Line: v.s.lineOf(path), Path: path, Msg: fmt.Sprintf(format, args...)})
}

// nameRE keeps names usable in device ids, topics, file names and metrics labels.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

func (v *validator) top() {
	s := v.s
	if s.Name == "" {
		v.add("name", "name is required")
	} else if !nameRE.MatchString(s.Name) {
		v.add("name", "name %q: use letters, digits, '.', '_' or '-'", s.Name)
	}
	if s.Warmup < 0 {
		v.add("warmup", "must not be negative, got %s", s.Warmup)
	}
	if s.AvailabilityDeadline <= 0 {
		v.add("availability_deadline", "must be positive, got %s", s.AvailabilityDeadline)
	}
	if s.GeneratorLagBound <= 0 {
		v.add("generator_lag_bound", "must be positive, got %s", s.GeneratorLagBound)
	}
	if s.Drain < 0 {
		v.add("drain", "must not be negative, got %s", s.Drain)
	}
	if !(s.APISample >= 0 && s.APISample <= 1) {
		v.add("api_sample", "must be a fraction between 0 and 1, got %v", s.APISample)
	}
	if len(s.Fleets) == 0 {
		v.add("fleets", "at least one fleet is required")
	}
}

func (v *validator) phases() {
	s := v.s
	if len(s.Phases) == 0 {
		if s.Duration < 0 {
			v.add("duration", "must be positive, got %s", s.Duration)
		} else {
			v.add("phases", "give either duration or phases")
		}
		return
	}
	var sum Duration
	for i, ph := range s.Phases {
		p := fmt.Sprintf("phases[%d]", i)
		if ph.Duration <= 0 {
			v.add(p+".duration", "must be positive, got %s", ph.Duration)
		}
		if !(ph.RateFactor > 0) || math.IsInf(ph.RateFactor, 0) {
			v.add(p+".rate_factor", "must be positive, got %v", ph.RateFactor)
		}
		if !(ph.ActiveFraction > 0 && ph.ActiveFraction <= 1) {
			v.add(p+".active_fraction", "must be in (0, 1], got %v", ph.ActiveFraction)
		}
		sum += ph.Duration
	}
	if s.has("duration") && s.has("phases") && s.Duration != sum {
		v.add("duration", "duration %s disagrees with the phases, which add up to %s; give one or the other", s.Duration, sum)
	}
}

func (v *validator) fleet(p string, f *Fleet) {
	if f.Name == "" {
		v.add(p+".name", "name is required")
	} else if !nameRE.MatchString(f.Name) {
		v.add(p+".name", "name %q: use letters, digits, '.', '_' or '-'", f.Name)
	}
	if f.Devices < 1 {
		v.add(p+".devices", "need at least 1 device, got %d", f.Devices)
	}
	if f.QoS < 0 || f.QoS > 2 {
		v.add(p+".qos", "qos must be 0, 1 or 2, got %d", f.QoS)
	}
	switch f.Codec {
	case CodecJSON, CodecProtobuf, CodecText:
	case "":
		v.add(p+".codec", "codec is required (json, protobuf or text)")
	default:
		v.add(p+".codec", "unknown codec %q (want json, protobuf or text)", f.Codec)
	}
	switch f.Connection {
	case ConnectionPersistent, ConnectionConnectSendDisconnect:
	default:
		v.add(p+".connection", "unknown connection %q (want persistent or connect-send-disconnect)", f.Connection)
	}
	if f.KeepAlive < 0 || f.KeepAlive.D() > 65535*time.Second {
		v.add(p+".keep_alive", "must be between 0 and 65535s (MQTT's limit), got %s", f.KeepAlive)
	} else if f.KeepAlive.D()%time.Second != 0 {
		v.add(p+".keep_alive", "MQTT keep-alive is whole seconds, got %s", f.KeepAlive)
	}
	v.topic(p+".topic", f.Topic, f)
	if f.Codec == CodecText && !lastLevelIsMetric(f.Topic) {
		v.add(p+".topic", "the text codec carries no metric name, so the topic's last level must be {metric}")
	}
	for key, vals := range f.Locations {
		lp := p + ".locations." + key
		switch {
		case isBuiltinPlaceholder(key):
			v.add(lp, "location %q shadows the built-in placeholder {%s}", key, key)
		case !topics.ValidVarName(key):
			v.add(lp, "location key %q: want letters, digits or _", key)
		case len(vals) == 0:
			v.add(lp, "location %q needs at least one value", key)
		}
		for j, val := range vals {
			if val == "" || strings.ContainsAny(val, "/+#\x00") {
				v.add(fmt.Sprintf("%s[%d]", lp, j), "location value %q must be non-empty and contain no '/', '+', '#'", val)
			}
		}
	}
	if f.Will != nil {
		v.topic(p+".will.topic", f.Will.Topic, f)
		if slices.Contains(mustPlaceholders(f.Will.Topic), PlaceholderMetric) {
			v.add(p+".will.topic", "a will is one message per device, so {%s} has no value in its topic", PlaceholderMetric)
		}
		if f.Will.QoS < 0 || f.Will.QoS > 2 {
			v.add(p+".will.qos", "qos must be 0, 1 or 2, got %d", f.Will.QoS)
		}
	}
	metrics := v.sensors(p, f.Sensors)
	v.malformed(p, f)
	if f.Replay != nil {
		v.replayFleet(p, f)
		return
	}
	v.arrival(p+".arrival", f.Arrival, f.Severity != nil)
	if f.Arrival.Burst() {
		v.burstFleet(p, f)
	}
	if f.Severity != nil {
		v.severity(p+".severity", f.Severity, metrics)
	}
	v.protocol(p, f)
	v.reconnect(p, f)
}

// mustPlaceholders returns the placeholders of a template, or none if it is
// malformed (the malformation is reported on its own).
func mustPlaceholders(t string) []string {
	names, _ := Placeholders(t)
	return names
}

func (v *validator) topic(p, t string, f *Fleet) {
	if err := checkPublishTopic(t); err != nil {
		v.add(p, "%v", err)
		return
	}
	names, err := Placeholders(t)
	if err != nil {
		v.add(p, "%v", err)
		return
	}
	for _, n := range names {
		if isBuiltinPlaceholder(n) {
			continue
		}
		if _, ok := f.Locations[n]; !ok {
			v.add(p, "placeholder {%s} is neither built in (device, metric, fleet, index) nor a key of locations", n)
		}
	}
}

func (v *validator) sensors(p string, sensors []Sensor) map[string]bool {
	metrics := map[string]bool{}
	if len(sensors) == 0 {
		v.add(p+".sensors", "at least one sensor is required")
	}
	for i, sn := range sensors {
		sp := fmt.Sprintf("%s.sensors[%d]", p, i)
		switch {
		case sn.Metric == "":
			v.add(sp+".metric", "metric is required")
		case !nameRE.MatchString(sn.Metric):
			v.add(sp+".metric", "metric %q: use letters, digits, '.', '_' or '-' (it may become a topic level)", sn.Metric)
		case metrics[sn.Metric]:
			v.add(sp+".metric", "metric %q appears twice in this fleet", sn.Metric)
		}
		metrics[sn.Metric] = true
		if !(sn.StdDev >= 0) || math.IsInf(sn.StdDev, 0) {
			v.add(sp+".stddev", "must be a non-negative number, got %v", sn.StdDev)
		}
		if math.IsNaN(sn.Mean) || math.IsInf(sn.Mean, 0) {
			v.add(sp+".mean", "must be a finite number, got %v", sn.Mean)
		}
		if sn.Min != nil && sn.Max != nil && !(*sn.Min <= *sn.Max) {
			v.add(sp+".min", "min %v is above max %v", *sn.Min, *sn.Max)
		}
	}
	return metrics
}

func (v *validator) arrival(p string, a Arrival, severityDriven bool) {
	switch a.Kind {
	case ArrivalFixed, ArrivalPoisson:
	case ArrivalBurst:
		v.burst(p, a)
		return
	default:
		v.add(p+".kind", "unknown arrival %q (want fixed, poisson or burst)", a.Kind)
	}
	for _, f := range []string{"count", "inflight", "start"} {
		if v.s.has(p + "." + f) {
			v.add(p+"."+f, "%s applies to burst arrivals only", f)
		}
	}
	if a.Interval <= 0 {
		if severityDriven {
			return // reported on the severity modes
		}
		v.add(p+".interval", "interval must be positive, got %s", a.Interval)
		return
	}
	if a.Jitter < 0 {
		v.add(p+".jitter", "must not be negative, got %s", a.Jitter)
	} else if a.Jitter >= a.Interval {
		v.add(p+".jitter", "jitter %s must be below the interval %s", a.Jitter, a.Interval)
	}
	if a.Kind == ArrivalPoisson && a.Jitter != 0 {
		v.add(p+".jitter", "jitter applies to fixed arrivals only; poisson arrivals are already random")
	}
}

// burst checks a burst arrival: messages go back to back, so nothing about
// their spacing may be given.
func (v *validator) burst(p string, a Arrival) {
	if a.Count < 1 {
		v.add(p+".count", "a burst needs count ≥ 1 messages per device, got %d", a.Count)
	}
	if a.Inflight < 1 {
		v.add(p+".inflight", "inflight must be at least 1 unacknowledged message, got %d", a.Inflight)
	} else if a.Inflight > 65535 {
		v.add(p+".inflight", "inflight %d exceeds MQTT's 65535 packet ids", a.Inflight)
	}
	if a.Start < 0 {
		v.add(p+".start", "must not be negative, got %s", a.Start)
	}
	if v.s.has(p+".interval") || a.Interval != 0 {
		v.add(p+".interval", "a burst sends back to back: interval does not apply (drop it or use kind fixed)")
	}
	if v.s.has(p+".jitter") || a.Jitter != 0 {
		v.add(p+".jitter", "a burst sends back to back: jitter does not apply")
	}
}

// burstFleet checks what a closed-loop burst fleet cannot combine with.
func (v *validator) burstFleet(p string, f *Fleet) {
	if f.Severity != nil {
		v.add(p+".severity", "severity modes set a sampling interval, which a burst does not have")
	}
	if f.Connection == ConnectionConnectSendDisconnect {
		v.add(p+".connection", "a burst keeps its connection: use connection persistent")
	}
}

// burstProfile checks, once per file, the scenario-wide settings a burst
// ignores: it is measured whole and paced by acknowledgements, not by phases.
func (v *validator) burstProfile() {
	i := slices.IndexFunc(v.s.Fleets, func(f Fleet) bool { return f.Arrival.Burst() })
	if i < 0 {
		return
	}
	name := v.s.Fleets[i].Name
	if v.s.Warmup > 0 {
		v.add("warmup", "fleet %s is a burst, which is measured whole: drop warmup", name)
	}
	for i, ph := range v.s.Phases {
		if ph.RateFactor != DefaultRateFactor || ph.ActiveFraction != DefaultActiveFraction {
			v.add(fmt.Sprintf("phases[%d]", i), "fleet %s is a burst, paced by acknowledgements: rate_factor and active_fraction do not apply", name)
		}
	}
}

func (v *validator) severity(p string, sv *Severity, metrics map[string]bool) {
	if sv.Metric == "" {
		v.add(p+".metric", "metric is required")
	} else if !metrics[sv.Metric] {
		v.add(p+".metric", "metric %q is not one of this fleet's sensors", sv.Metric)
	}
	if math.IsNaN(sv.Trend) || math.IsInf(sv.Trend, 0) {
		v.add(p+".trend", "must be a finite number")
	}
	if len(sv.Modes) == 0 {
		v.add(p+".modes", "at least one mode is required")
	}
	seen := map[string]bool{}
	for i, m := range sv.Modes {
		mp := fmt.Sprintf("%s.modes[%d]", p, i)
		if m.Name == "" {
			v.add(mp+".name", "name is required")
		} else if seen[m.Name] {
			v.add(mp+".name", "mode %q appears twice", m.Name)
		}
		seen[m.Name] = true
		if m.Interval <= 0 {
			v.add(mp+".interval", "interval must be positive, got %s", m.Interval)
		}
		if math.IsNaN(m.Above) {
			v.add(mp+".above", "must be a number")
		}
		if i > 0 && !(m.Above > sv.Modes[i-1].Above) {
			v.add(mp+".above", "modes go in increasing severity: threshold %v must be above %s's %v", m.Above, sv.Modes[i-1].Name, sv.Modes[i-1].Above)
		}
	}
}

// kafkaTopicRE is Kafka's own rule for topic names.
var kafkaTopicRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,249}$`)

func (v *validator) target() {
	t := v.s.Target
	switch t.Kind {
	case TargetEmbedded, TargetContainers, TargetExternal:
	default:
		v.add("target.kind", "unknown target %q (want embedded, containers or external)", t.Kind)
	}
	switch t.Broker {
	case "", BrokerMosquitto, BrokerHiveMQ:
	default:
		v.add("target.broker", "unknown broker %q (want mosquitto or hivemq)", t.Broker)
	}
	switch t.Security {
	case SecurityNone, SecurityTLS:
	default:
		v.add("target.security", "unknown security %q (want none or tls)", t.Security)
	}
	for _, c := range []struct {
		field string
		n     int
	}{
		{"kafka_brokers", t.KafkaBrokers}, {"partitions", t.Partitions}, {"cassandra_nodes", t.CassandraNodes},
		{"bridge_replicas", t.BridgeReplicas}, {"sink_replicas", t.SinkReplicas},
	} {
		if c.n < 1 {
			v.add("target."+c.field, "must be at least 1, got %d", c.n)
		}
	}
	v.brokers()
	if t.SinkMaxWriteRate < 0 {
		v.add("target.sink_max_write_rate", "must be 0 (no cap) or a positive rows/s, got %g", t.SinkMaxWriteRate)
	}
	if t.ReplicationFactor < 1 {
		v.add("target.replication_factor", "must be at least 1, got %d", t.ReplicationFactor)
	} else if t.KafkaBrokers >= 1 && t.ReplicationFactor > t.KafkaBrokers {
		v.add("target.replication_factor", "replication factor %d exceeds the %d Kafka brokers", t.ReplicationFactor, t.KafkaBrokers)
	}
	if t.MinInsyncReplicas < 1 {
		v.add("target.min_insync_replicas", "must be at least 1, got %d", t.MinInsyncReplicas)
	} else if t.ReplicationFactor >= 1 && t.MinInsyncReplicas > t.ReplicationFactor {
		v.add("target.min_insync_replicas", "min in-sync replicas %d exceeds the replication factor %d: every acks=all write would fail", t.MinInsyncReplicas, t.ReplicationFactor)
	}
	if !kafkaTopicRE.MatchString(t.KafkaTopic) || t.KafkaTopic == "." || t.KafkaTopic == ".." {
		v.add("target.kafka_topic", "invalid Kafka topic %q (letters, digits, '.', '_', '-'; at most 249)", t.KafkaTopic)
	}
	if t.Kind == TargetEmbedded {
		v.embeddedTarget()
	}
}

// MaxBrokers bounds target.brokers: every broker brings a broker and a bridge
// container of its own to one machine.
const MaxBrokers = 32

// brokers checks target.brokers: a count the containers target can start. The
// embedded target runs one in-process broker and refuses it; an external
// pipeline's brokers are the URLs it is given (CITYBENCH_MQTT_URL), which is
// how the worker processes of a containers run reach its tier.
func (v *validator) brokers() {
	t := v.s.Target
	if !v.s.has("target.brokers") {
		return
	}
	switch {
	case t.Kind == TargetEmbedded:
		v.add("target.brokers", "the embedded target runs one broker, in process — remove it or use kind: containers")
	case t.Brokers < 1 || t.Brokers > MaxBrokers:
		v.add("target.brokers", "must be between 1 and %d, got %d (leave it out to size the broker tier by the devices)", MaxBrokers, t.Brokers)
	}
}

// embeddedTarget refuses the target fields the embedded pipeline cannot honour: a
// run must never report a topology it did not have. It honours the others
// (kafka_brokers, replication_factor, partitions, kafka_topic, bridge and sink
// replicas, security).
func (v *validator) embeddedTarget() {
	t := v.s.Target
	const instead = "; remove it or use kind: containers"
	if t.Broker != "" {
		v.add("target.broker", "the embedded target runs its own broker (mochi-mqtt, in process), not %s%s", t.Broker, instead)
	}
	if t.CassandraNodes > 1 { // below 1 is refused for every target above
		v.add("target.cassandra_nodes", "the embedded target stores readings in one in-memory store, not %d Cassandra nodes%s", t.CassandraNodes, instead)
	}
	if v.s.has("target.min_insync_replicas") {
		v.add("target.min_insync_replicas", "the embedded Kafka (kfake) keeps one copy of each partition and does not enforce min.insync.replicas%s", instead)
	}
}

func (v *validator) slos() {
	anyQoS := false
	for _, f := range v.s.Fleets {
		anyQoS = anyQoS || f.QoS > 0
	}
	for i, expr := range v.s.SLOs {
		p := fmt.Sprintf("slos[%d]", i)
		slo, err := ParseSLO(expr)
		if err != nil {
			v.add(p, "%v", err)
			continue
		}
		if slo.Stage == StageAcked && !anyQoS && len(v.s.Fleets) > 0 {
			v.add(p, "%q: no fleet uses qos 1 or 2, so nothing is ever acked", expr)
		}
		if slo.Stage == SubjectMalformed && !slices.ContainsFunc(v.s.Fleets, func(f Fleet) bool {
			return f.Malformed > 0 && (slo.Kind == "" || slices.Contains(f.MalformedMix(), slo.Kind))
		}) {
			v.add(p, "%q: no fleet sends malformed messages of that kind: set malformed (and malformed_kinds) on a fleet", expr)
		}
	}
}

// Payloads is what a pipeline must be deployed for to take this scenario's
// messages: the codec every fleet uses ("" when they differ) and their common
// topic template ("" when they differ — the pipeline then routes by nothing).
func (s *Scenario) Payloads() (codec, template string) {
	for i, f := range s.Fleets {
		if i == 0 {
			codec, template = f.Codec, f.Topic
			continue
		}
		if f.Codec != codec {
			codec = ""
		}
		if f.Topic != template {
			template = ""
		}
	}
	return codec, template
}

// Devices is the number of simulated devices over all fleets.
func (s *Scenario) Devices() int {
	n := 0
	for _, f := range s.Fleets {
		n += f.Devices
	}
	return n
}

// Total is how long load is offered: warm-up plus every phase (drain excluded).
func (s *Scenario) Total() time.Duration {
	d := s.Warmup.D()
	for _, ph := range s.Phases {
		d += ph.Duration.D()
	}
	return d
}

// MessagesPerSample is how many MQTT messages one sample of a device becomes:
// one per metric when the topic names the metric, else one for all metrics.
func (f *Fleet) MessagesPerSample() int {
	if slices.Contains(mustPlaceholders(f.Topic), PlaceholderMetric) {
		return max(len(f.Sensors), 1)
	}
	return 1
}

// NominalRate is the fleet's offered messages per second at rate factor 1 with
// every device active, at its arrival interval (for a severity-driven fleet, its
// calmest mode).
func (f *Fleet) NominalRate() float64 {
	if f.Arrival.Interval <= 0 {
		return 0
	}
	return float64(f.Devices*f.MessagesPerSample()) / f.Arrival.Interval.D().Seconds()
}

// NominalRate is the scenario's offered messages per second at rate factor 1.
func (s *Scenario) NominalRate() float64 {
	r := 0.0
	for i := range s.Fleets {
		r += s.Fleets[i].NominalRate()
	}
	return r
}
