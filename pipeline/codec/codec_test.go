package codec

import (
	"maps"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	"github.com/citybench/citybench/pipeline/codec/pb"
	"github.com/citybench/citybench/pipeline/topics"
)

const (
	t2023    = int64(1700000000123456789)
	cityTopo = "hypo_city/rome/via_roma/g7/temperature"
)

func reading(metrics map[string]float64) Reading {
	return Reading{DeviceID: "rome/via_roma/g7", Seq: 42, SampleTimeNs: t2023, Metrics: metrics}
}

func TestByName(t *testing.T) {
	for _, name := range Names() {
		c, err := ByName(name)
		if err != nil || c.Name() != name {
			t.Errorf("ByName(%q) = %v, %v", name, c, err)
		}
	}
	if _, err := ByName("xml"); err == nil {
		t.Error("ByName(xml) succeeded")
	}
}

func TestRoundTrip(t *testing.T) {
	single := reading(map[string]float64{"temperature": 28.7})
	multi := reading(map[string]float64{"temperature": -3.25, "no2": 87.3, "co2": 1e-300, "big": math.MaxFloat64})
	multi.Model = "env-v2"
	unsequenced := reading(map[string]float64{"temperature": 0})
	unsequenced.Seq = 0
	tests := []struct {
		codec Codec
		r     Reading
	}{
		{JSON(), single}, {JSON(), multi}, {JSON(), unsequenced},
		{Protobuf(), single}, {Protobuf(), multi}, {Protobuf(), unsequenced},
		{Text(), single}, {Text(), unsequenced},
		{Text(WithTemplate(topics.MustParse(topics.HypoCityPattern))), single},
	}
	for _, tc := range tests {
		b, err := tc.codec.Encode(tc.r)
		if err != nil {
			t.Errorf("%s Encode(%+v): %v", tc.codec.Name(), tc.r, err)
			continue
		}
		got, err := tc.codec.Decode(cityTopo, b)
		if err != nil {
			t.Errorf("%s Decode(%q): %v", tc.codec.Name(), b, err)
			continue
		}
		want := tc.r
		if tc.codec.Name() == "text" {
			want.Model = "" // not carried
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s round trip: got %+v want %+v", tc.codec.Name(), got, want)
		}
	}
}

func TestEncodeRejects(t *testing.T) {
	tests := []struct {
		name   string
		codec  Codec
		mutate func(*Reading)
		reason string
	}{
		{"no device", JSON(), func(r *Reading) { r.DeviceID = "" }, ReasonMissingField},
		{"no time", JSON(), func(r *Reading) { r.SampleTimeNs = 0 }, ReasonMissingField},
		{"no metrics", Protobuf(), func(r *Reading) { r.Metrics = nil }, ReasonMissingField},
		{"NaN", Protobuf(), func(r *Reading) { r.Metrics["x"] = math.NaN() }, ReasonOutOfRange},
		{"Inf", Text(), func(r *Reading) { r.Metrics = map[string]float64{"x": math.Inf(-1)} }, ReasonOutOfRange},
		{"before 1990", JSON(), func(r *Reading) { r.SampleTimeNs = 1 }, ReasonOutOfRange},
		{"ms as ns", JSON(), func(r *Reading) { r.SampleTimeNs = -t2023 }, ReasonOutOfRange},
		{"seq over int64", JSON(), func(r *Reading) { r.Seq = math.MaxUint64 }, ReasonOutOfRange},
		{"tab in id", JSON(), func(r *Reading) { r.DeviceID = "a\tb" }, ReasonBadName},
		{"wildcard id", JSON(), func(r *Reading) { r.DeviceID = "a/+" }, ReasonBadName},
		{"bad utf8 metric", JSON(), func(r *Reading) { r.Metrics = map[string]float64{"\xff": 1} }, ReasonBadUTF8},
		{"long id", JSON(), func(r *Reading) { r.DeviceID = strings.Repeat("d", MaxIDLen+1) }, ReasonOversize},
		{"long model", JSON(), func(r *Reading) { r.Model = strings.Repeat("m", MaxIDLen+1) }, ReasonOversize},
		{"too many metrics", JSON(), func(r *Reading) {
			for i := range MaxMetrics {
				r.Metrics[strings.Repeat("m", i%60+1)+string(rune('A'+i%26))+strings.Repeat("z", i/26)] = 1
			}
		}, ReasonOversize},
		{"text two metrics", Text(), func(r *Reading) { r.Metrics["no2"] = 1 }, ReasonUnsupported},
	}
	for _, tc := range tests {
		r := reading(map[string]float64{"temperature": 1})
		tc.mutate(&r)
		_, err := tc.codec.Encode(r)
		if got := Reason(err); got != tc.reason {
			t.Errorf("%s: reason %q (%v), want %q", tc.name, got, err, tc.reason)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	big := strings.Repeat(" ", MaxPayload+1)
	tests := []struct {
		name    string
		codec   Codec
		topic   string
		payload string
		reason  string
	}{
		{"json empty", JSON(), cityTopo, "", ReasonMalformed},
		{"json oversize", JSON(), cityTopo, big, ReasonOversize},
		{"json syntax", JSON(), cityTopo, `{"device_id":`, ReasonMalformed},
		{"json trailing", JSON(), cityTopo, `{"device_id":"d","sample_time_ns":1700000000000000000,"metrics":{"t":1}} x`, ReasonMalformed},
		{"json bad utf8", JSON(), cityTopo, "{\"device_id\":\"\xff\"}", ReasonBadUTF8},
		{"json no device", JSON(), cityTopo, `{"sample_time_ns":1700000000000000000,"metrics":{"t":1}}`, ReasonMissingField},
		{"json no time", JSON(), cityTopo, `{"device_id":"d","metrics":{"t":1}}`, ReasonMissingField},
		{"json no metrics", JSON(), cityTopo, `{"device_id":"d","sample_time_ns":1700000000000000000}`, ReasonMissingField},
		{"json null metrics", JSON(), cityTopo, `{"device_id":"d","sample_time_ns":1700000000000000000,"metrics":null}`, ReasonMissingField},
		{"json negative seq", JSON(), cityTopo, `{"device_id":"d","seq":-1,"sample_time_ns":1700000000000000000,"metrics":{"t":1}}`, ReasonOutOfRange},
		{"json huge value", JSON(), cityTopo, `{"device_id":"d","sample_time_ns":1700000000000000000,"metrics":{"t":1e400}}`, ReasonOutOfRange},
		{"json string seq", JSON(), cityTopo, `{"device_id":"d","seq":"1","sample_time_ns":1700000000000000000,"metrics":{"t":1}}`, ReasonMalformed},
		{"json array", JSON(), cityTopo, `[1,2]`, ReasonMalformed},
		{"text 3 fields", Text(), cityTopo, "1\t2\t3", ReasonMalformed},
		{"text bad value", Text(), cityTopo, "1700000000\tabc", ReasonMalformed},
		{"text NaN", Text(), cityTopo, "1700000000\tNaN", ReasonOutOfRange},
		{"text huge value", Text(), cityTopo, "1700000000\t1e999", ReasonOutOfRange},
		{"text time overflow", Text(), cityTopo, "99999999999999999999\t1\td\t1", ReasonOutOfRange},
		{"text plain overflow", Text(), cityTopo, "9999999999999\t1", ReasonOutOfRange},
		{"text plain ns as s", Text(), cityTopo, "1700000000000000000\t1", ReasonOutOfRange},
		{"text bad time", Text(), cityTopo, "17e8\t1", ReasonMalformed},
		{"text bad seq", Text(), cityTopo, "1700000000000000000\t1\td\t-1", ReasonMalformed},
		{"text empty device", Text(), cityTopo, "1700000000000000000\t1\t\t1", ReasonMissingField},
		{"text no metric", Text(), "a/b/", "1700000000\t1", ReasonBadTopic},
		{"text no device", Text(), "temperature", "1700000000\t1", ReasonBadTopic},
		{"text template mismatch", Text(WithTemplate(topics.MustParse(topics.HypoCityPattern))), "x/y", "1700000000\t1", ReasonBadTopic},
		{"text bad utf8", Text(), cityTopo, "1700000000\t1\t\xff\t1", ReasonBadUTF8},
		{"text oversize", Text(), cityTopo, big, ReasonOversize},
		{"proto garbage", Protobuf(), cityTopo, "\xff\xff\xff", ReasonMalformed},
		{"proto empty", Protobuf(), cityTopo, "", ReasonMalformed},
		{"proto bad utf8", Protobuf(), cityTopo, "\x0a\x01\xff", ReasonBadUTF8},
	}
	for _, tc := range tests {
		_, err := tc.codec.Decode(tc.topic, []byte(tc.payload))
		if got := Reason(err); got != tc.reason {
			t.Errorf("%s: reason %q (%v), want %q", tc.name, got, err, tc.reason)
		}
	}
}

func TestTextPlainForm(t *testing.T) {
	hypo := topics.MustParse(topics.HypoCityPattern)
	tests := []struct {
		name    string
		codec   Codec
		topic   string
		payload string
		want    Reading
	}{
		{"seconds", Text(), cityTopo, "1700000000\t28.7\n",
			Reading{DeviceID: "hypo_city/rome/via_roma/g7", SampleTimeNs: 1700000000 * 1e9, Metrics: map[string]float64{"temperature": 28.7}}},
		{"fractional seconds exact", Text(WithTemplate(hypo)), "hypo_city/rome/via_roma/g7/no2", "1700000000.123456789\t87.3\r\n",
			Reading{DeviceID: "rome/via_roma/g7", SampleTimeNs: 1700000000123456789, Metrics: map[string]float64{"no2": 87.3}}},
		{"milliseconds", Text(WithPlainTimeUnit(time.Millisecond)), "/1/2/3", "1700000000123\t-1",
			Reading{DeviceID: "1/2", SampleTimeNs: 1700000000123 * 1e6, Metrics: map[string]float64{"3": -1}}},
		{"four fields win over topic", Text(WithTemplate(hypo)), cityTopo, "1700000000000000001\t5\tsensor-9\t7",
			Reading{DeviceID: "sensor-9", Seq: 7, SampleTimeNs: 1700000000000000001, Metrics: map[string]float64{"temperature": 5}}},
	}
	for _, tc := range tests {
		got, err := tc.codec.Decode(tc.topic, []byte(tc.payload))
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %+v, %v want %+v", tc.name, got, err, tc.want)
		}
	}
}

func TestProtobufEnvironment(t *testing.T) {
	env := &pb.Environment{Temperature: 21.5, Humidity: 40, Co2: 612, Timestamp: 1700000000123}
	bare, err := proto.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	want := Reading{DeviceID: "94103/b12/f3/n1", SampleTimeNs: 1700000000123 * 1e6,
		Metrics: map[string]float64{"temperature": 21.5, "humidity": 40, "co2": 612}}
	got, err := Protobuf().Decode("/94103/b12/f3/n1/environment", bare)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("bare Environment: got %+v, %v want %+v", got, err, want)
	}
	// The same bytes on a topic outside the building layout carry no identity.
	if _, err := Protobuf().Decode(cityTopo, bare); Reason(err) != ReasonMissingField {
		t.Errorf("bare Environment off-template: %v, want missing_field", err)
	}

	wrapped, err := proto.Marshal(&pb.Reading{DeviceId: "n1", Seq: 3, Metrics: map[string]float64{"pressure": 1013}, Environment: env})
	if err != nil {
		t.Fatal(err)
	}
	want = Reading{DeviceID: "n1", Seq: 3, SampleTimeNs: 1700000000123 * 1e6,
		Metrics: map[string]float64{"temperature": 21.5, "humidity": 40, "co2": 612, "pressure": 1013}}
	got, err = Protobuf().Decode("any/topic", wrapped)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("enveloped Environment: got %+v, %v want %+v", got, err, want)
	}
}

func TestEncodeDeterministic(t *testing.T) {
	r := reading(map[string]float64{"a": 1, "b": 2, "c": 3, "d": 4, "e": 5})
	for _, c := range []Codec{JSON(), Protobuf()} {
		first, err := c.Encode(r)
		if err != nil {
			t.Fatal(err)
		}
		for range 20 {
			again, _ := c.Encode(Reading{DeviceID: r.DeviceID, Seq: r.Seq, SampleTimeNs: r.SampleTimeNs, Metrics: maps.Clone(r.Metrics)})
			if string(again) != string(first) {
				t.Fatalf("%s: encoding differs between calls", c.Name())
			}
		}
	}
}

// TestPlainNameAgreesWithRules holds validateName's fast path to its rules:
// every single-byte name it calls plain is one the rune-by-rune checks accept.
func TestPlainNameAgreesWithRules(t *testing.T) {
	for c := range 256 {
		s := string([]byte{byte(c)})
		r := rune(c)
		rules := c < utf8.RuneSelf && c != '+' && c != '#' && !unicode.IsSpace(r) && unicode.IsPrint(r)
		if plainName(s) != rules {
			t.Errorf("plainName(%q) = %v, rules say %v", s, plainName(s), rules)
		}
	}
}
