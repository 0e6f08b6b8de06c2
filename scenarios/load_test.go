package scenarios

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// minimal is the smallest valid scenario; tests append or replace lines.
const minimal = `name: t
duration: 5s
fleets:
  - name: env
    devices: 3
    topic: c/{device}
    codec: json
    qos: 1
    sensors: [{metric: t, mean: 1, stddev: 1}]
    arrival: {kind: fixed, interval: 1s}
`

func TestDurationUnmarshal(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{"500ms", 500 * time.Millisecond, ""},
		{"2s", 2 * time.Second, ""},
		{"1m", time.Minute, ""},
		{"1m30s", 90 * time.Second, ""},
		{`"250us"`, 250 * time.Microsecond, ""},
		{"0", 0, ""},
		{"-3s", -3 * time.Second, ""},
		{"10", 0, "line 1: duration 10 has no unit"},
		{"1.5", 0, "has no unit"},
		{"2 seconds", 0, `line 1: invalid duration "2 seconds"`},
		{"[1s]", 0, "want a duration"},
		{"{a: 1}", 0, "want a duration"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var d Duration
			err := yaml.Unmarshal([]byte(tt.in), &d)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || d.D() != tt.want {
				t.Fatalf("got %v, %v; want %v", d.D(), err, tt.want)
			}
			// It must write back in a form it reads.
			out, err := yaml.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			var back Duration
			if err := yaml.Unmarshal(out, &back); err != nil || back != d {
				t.Fatalf("round trip %q → %v, %v", out, back, err)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	s, err := Parse("t.yaml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	f := s.Fleets[0]
	checks := []struct {
		name      string
		got, want any
	}{
		{"phases", len(s.Phases), 1},
		{"phase name", s.Phases[0].Name, DefaultPhaseName},
		{"phase duration", s.Phases[0].Duration.D(), 5 * time.Second},
		{"rate_factor", s.Phases[0].RateFactor, 1.0},
		{"active_fraction", s.Phases[0].ActiveFraction, 1.0},
		{"keep_alive", f.KeepAlive.D(), 30 * time.Second},
		{"clean_session", f.CleanSession != nil && *f.CleanSession, true},
		{"connection", f.Connection, ConnectionPersistent},
		{"model", f.Model, "env"},
		{"availability_deadline", s.AvailabilityDeadline.D(), 5 * time.Second},
		{"generator_lag_bound", s.GeneratorLagBound.D(), 100 * time.Millisecond},
		{"drain", s.Drain.D(), 10 * time.Second},
		{"api_sample", s.APISample, 0.02},
		{"target kind", s.Target.Kind, TargetEmbedded},
		{"kafka_brokers", s.Target.KafkaBrokers, 3},
		{"partitions", s.Target.Partitions, 6},
		{"replication_factor", s.Target.ReplicationFactor, 3},
		{"min_insync_replicas", s.Target.MinInsyncReplicas, 2},
		{"cassandra_nodes", s.Target.CassandraNodes, 1},
		{"bridge_replicas", s.Target.BridgeReplicas, 1},
		{"sink_replicas", s.Target.SinkReplicas, 1},
		{"security", s.Target.Security, SecurityNone},
		{"kafka_topic", s.Target.KafkaTopic, "readings"},
		{"total", s.Total(), 5 * time.Second},
		{"devices", s.Devices(), 3},
		{"file", s.File, "t.yaml"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	sum := sha256.Sum256([]byte(minimal))
	if s.Hash != hex.EncodeToString(sum[:]) {
		t.Errorf("hash %s is not the sha256 of the bytes", s.Hash)
	}
}

// An explicit zero is the user's choice; only an absent field takes a default.
func TestExplicitValuesKept(t *testing.T) {
	tests := []struct {
		name  string
		extra string
		check func(*Scenario) bool
	}{
		{"api_sample 0 turns the API tap off", "api_sample: 0\n", func(s *Scenario) bool { return s.APISample == 0 }},
		{"drain 0", "drain: 0s\n", func(s *Scenario) bool { return s.Drain == 0 }},
		{"one broker shrinks RF and min ISR defaults", "target: {kafka_brokers: 1}\n", func(s *Scenario) bool {
			return s.Target.ReplicationFactor == 1 && s.Target.MinInsyncReplicas == 1
		}},
		{"RF 2 shrinks min ISR default", "target: {replication_factor: 2}\n", func(s *Scenario) bool {
			return s.Target.KafkaBrokers == 3 && s.Target.MinInsyncReplicas == 2
		}},
		{"containers target accepted", "target: {kind: containers, broker: hivemq, security: tls}\n", func(s *Scenario) bool {
			return s.Target.Kind == TargetContainers && s.Target.Broker == BrokerHiveMQ
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse("t.yaml", []byte(minimal+tt.extra))
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(s) {
				t.Errorf("not kept: %+v", s)
			}
		})
	}
	s, err := Parse("t.yaml", []byte(strings.Replace(minimal, "qos: 1\n", "qos: 1\n    clean_session: false\n", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if *s.Fleets[0].CleanSession {
		t.Error("clean_session: false became true")
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name string
		data string
		want string // substring of the error, which must start with the file name
	}{
		{"empty", "", "t.yaml: empty scenario file"},
		{"comment only", "# nothing\n", "t.yaml: empty scenario file"},
		{"list at top", "- a\n- b\n", "t.yaml:1: want a mapping"},
		{"two documents", minimal + "---\nname: u\n", "more than one YAML document"},
		{"duplicate key", minimal + "name: u\n", `mapping key "name" already defined`},
		{"explicit zero rate", strings.Replace(minimal, "duration: 5s\n", "phases: [{name: s, duration: 5s, rate_factor: 0}]\n", 1), "t.yaml:2: phases[0].rate_factor: must be positive, got 0"},
		{"duration disagrees with phases", strings.Replace(minimal, "duration: 5s\n", "duration: 5s\nphases: [{duration: 4s}]\n", 1), "t.yaml:2: duration: duration 5s disagrees"},
		{"missing codec reported at the fleet", strings.Replace(minimal, "    codec: json\n", "", 1), "t.yaml:4: fleets[0].codec: codec is required"},
		{"bad name", strings.Replace(minimal, "name: t\n", "name: a b\n", 1), `t.yaml:1: name: name "a b"`},
		{"keep_alive fraction", strings.Replace(minimal, "qos: 1\n", "qos: 1\n    keep_alive: 1500ms\n", 1), "keep-alive is whole seconds"},
		{"will qos", strings.Replace(minimal, "qos: 1\n", "qos: 1\n    will: {topic: \"c/{device}/gone\", payload: x, qos: 5}\n", 1), "fleets[0].will.qos"},
		{"will topic placeholder", strings.Replace(minimal, "qos: 1\n", "qos: 1\n    will: {topic: \"c/{room}\", payload: x}\n", 1), "fleets[0].will.topic: placeholder {room}"},
		{"will topic metric", strings.Replace(minimal, "qos: 1\n", "qos: 1\n    will: {topic: \"c/{device}/{metric}\", payload: x}\n", 1), "fleets[0].will.topic: a will is one message per device"},
		{"text metric not last", strings.Replace(strings.Replace(minimal, "codec: json", "codec: text", 1), "topic: c/{device}", "topic: c/{metric}/{device}", 1), "t.yaml:6: fleets[0].topic: the text codec carries no metric name, so the topic's last level must be {metric}"},
		{"$ topic", strings.Replace(minimal, "topic: c/{device}", "topic: $SYS/{device}", 1), "reserved for the broker"},
		{"min above max", strings.Replace(minimal, "stddev: 1}", "stddev: 1, min: 5, max: 1}", 1), "min 5 is above max 1"},
		{"poisson jitter", strings.Replace(minimal, "kind: fixed, interval: 1s", "kind: poisson, interval: 1s, jitter: 1ms", 1), "jitter applies to fixed arrivals only"},
		{"scalar for struct", minimal + "target: embedded\n", "t.yaml:11: target: want a mapping"},
		{"scalar for list", minimal + "slos: store.loss == 0\n", "t.yaml:11: slos: want a list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(tt.data))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.HasPrefix(err.Error(), "t.yaml") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to contain %q", err, tt.want)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Errorf("%T does not unwrap to *FieldError", err)
			}
		})
	}
}

// Merge keys that merge merges multiply the work at every level; the loader
// must give up with an error rather than walk millions of nodes.
func TestMergeBomb(t *testing.T) {
	inner := "&a0 {name: t}"
	for level := 1; level <= 7; level++ {
		prev := fmt.Sprintf("*a%d", level-1)
		inner = fmt.Sprintf("&a%d {<<: [%s%s]}", level, inner, strings.Repeat(", "+prev, 9))
	}
	data := "<<: " + inner + "\n"
	start := time.Now()
	_, err := Parse("bomb.yaml", []byte(data))
	if err == nil || !(strings.Contains(err.Error(), "too many aliases") || strings.Contains(err.Error(), "excessive aliasing")) {
		t.Errorf("err = %v, want an aliasing error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s", d)
	}
}

// YAML anchors and merge keys are how a catalog shares location lists; the
// strict field check must follow them.
func TestAnchorsAndMerge(t *testing.T) {
	data := minimal + `  - <<: &base
      devices: 2
      topic: c/{zone}/{device}
      codec: json
      qos: 0
      sensors: [{metric: t, mean: 1, stddev: 1}]
      arrival: {kind: fixed, interval: 1s}
    name: second
    locations: {zone: [a, b]}
`
	s, err := Parse("t.yaml", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Fleets) != 2 || s.Fleets[1].Devices != 2 || s.Fleets[1].Topic != "c/{zone}/{device}" {
		t.Errorf("merge not applied: %+v", s.Fleets)
	}
	bad := strings.Replace(data, "      qos: 0\n", "      qos: 0\n      typo: 1\n", 1)
	if _, err := Parse("t.yaml", []byte(bad)); err == nil || !strings.Contains(err.Error(), `fleets[1].typo: unknown field`) {
		t.Errorf("unknown field inside a merge: %v", err)
	}
}

// A Scenario built in Go (as the harness's tests do) validates without a file.
func TestGoBuiltScenario(t *testing.T) {
	s := &Scenario{
		Name:     "go",
		Duration: Duration(time.Second),
		Fleets: []Fleet{{
			Name: "f", Devices: 1, Topic: "x/{device}/{metric}", Codec: CodecText,
			Sensors: []Sensor{{Metric: "t"}}, Arrival: Arrival{Interval: Duration(time.Second)},
		}},
	}
	s.SetDefaults()
	if err := s.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if s.APISample != DefaultAPISample || s.Fleets[0].Arrival.Kind != ArrivalFixed || len(s.Phases) != 1 {
		t.Errorf("defaults not applied: %+v", s)
	}
	s.Fleets[0].QoS = 7
	err := s.Validate()
	if err == nil || err.Error() != "fleets[0].qos: qos must be 0, 1 or 2, got 7" {
		t.Errorf("got %v", err)
	}
}

func TestPlaceholders(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr string
	}{
		{"hypo_city/{city}/{street}/{group}/{metric}", []string{"city", "street", "group", "metric"}, ""},
		{"/{zip}/{building}/{floor}/{node}/environment", []string{"zip", "building", "floor", "node"}, ""},
		{"plain/topic", nil, ""},
		{"a/{device}/{device}", nil, "used twice"},
		{"s-{index}/{device}", nil, "mixes text with braces"},
		{"a/{b", nil, "mixes text with braces"},
		{"a/b}", nil, "mixes text with braces"},
		{"a/{}", nil, "bad variable name"},
		{"a/{b c}", nil, "bad variable name"},
		{"a/{{b}}", nil, "bad variable name"},
	}
	for _, tt := range tests {
		got, err := Placeholders(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Placeholders(%q) err = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("Placeholders(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestNominalRate(t *testing.T) {
	tests := []struct {
		topic   string
		sensors int
		devices int
		every   time.Duration
		want    float64
	}{
		{"a/{device}", 3, 10, time.Second, 10},          // one message carries all metrics
		{"a/{device}/{metric}", 3, 10, time.Second, 30}, // one message per metric
		{"a/{metric}", 2, 100, 5 * time.Second, 40},
	}
	for _, tt := range tests {
		f := Fleet{Topic: tt.topic, Devices: tt.devices, Sensors: make([]Sensor, tt.sensors), Arrival: Arrival{Interval: Duration(tt.every)}}
		if got := f.NominalRate(); got != tt.want {
			t.Errorf("%s ×%d: %v msgs/s, want %v", tt.topic, tt.sensors, got, tt.want)
		}
	}
}

func TestPayloads(t *testing.T) {
	fleet := func(codec, topic string) Fleet { return Fleet{Codec: codec, Topic: topic} }
	tests := []struct {
		name                string
		fleets              []Fleet
		wantCodec, wantTmpl string
	}{
		{"one layout", []Fleet{fleet("text", "a/{metric}"), fleet("text", "a/{metric}")}, "text", "a/{metric}"},
		{"two layouts", []Fleet{fleet("protobuf", "a/{device}"), fleet("protobuf", "b/{device}")}, "protobuf", ""},
		{"two codecs", []Fleet{fleet("json", "a/{device}"), fleet("text", "a/{device}")}, "", "a/{device}"},
	}
	for _, tt := range tests {
		codec, tmpl := (&Scenario{Fleets: tt.fleets}).Payloads()
		if codec != tt.wantCodec || tmpl != tt.wantTmpl {
			t.Errorf("%s: (%q, %q), want (%q, %q)", tt.name, codec, tmpl, tt.wantCodec, tt.wantTmpl)
		}
	}
}
