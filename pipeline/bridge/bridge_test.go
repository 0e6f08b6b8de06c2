package bridge

import (
	"strings"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/citybench/citybench/pipeline/codec"
	"github.com/citybench/citybench/pipeline/topics"
)

func headerOf(m kafka.Message, key string) (string, bool) {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value), true
		}
	}
	return "", false
}

func TestToRecord(t *testing.T) {
	routes, err := topics.NewRouter([]topics.Route{
		{Filters: []string{"hypo_city/#"}, KafkaTopic: "city.{city}", Template: topics.HypoCityPattern},
		{Filters: []string{"plain/#"}, KafkaTopic: "readings"},
	})
	if err != nil {
		t.Fatal(err)
	}
	good, err := codec.JSON().Encode(codec.Reading{DeviceID: "rome/via_roma/g7", Seq: 3, SampleTimeNs: 1_700_000_000_000_000_000,
		Metrics: map[string]float64{"no2": 87.3}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, topic  string
		payload      []byte
		wantOK       bool
		wantTopic    string
		wantKey      string
		wantReason   string
		wantLocation map[string]string
	}{
		{name: "routed with location", topic: "hypo_city/rome/via_roma/g7/no2", payload: good, wantOK: true,
			wantTopic: "city.rome", wantKey: "rome/via_roma/g7",
			wantLocation: map[string]string{"city": "rome", "street": "via_roma", "group": "g7"}},
		{name: "routed without template", topic: "plain/x", payload: good, wantOK: true,
			wantTopic: "readings", wantKey: "rome/via_roma/g7"},
		{name: "malformed json", topic: "plain/x", payload: []byte("{nope"), wantTopic: "dlq", wantReason: "malformed"},
		{name: "missing device", topic: "plain/x", payload: []byte(`{"sample_time_ns":1,"metrics":{"t":1}}`),
			wantTopic: "dlq", wantReason: "missing_field"},
		{name: "empty payload", topic: "plain/x", payload: nil, wantTopic: "dlq", wantReason: "malformed"},
		{name: "unroutable", topic: "elsewhere/x", payload: good, wantTopic: "dlq", wantReason: "unroutable"},
	}
	b, err := New(WithMQTT("tcp://127.0.0.1:1"), WithKafka("127.0.0.1:1"), WithCodec(codec.JSON()),
		WithRoutes(routes), WithDeadLetterTopic("dlq"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec, ok := b.toRecord(tc.topic, tc.payload)
			if ok != tc.wantOK || rec.Topic != tc.wantTopic {
				t.Fatalf("got ok=%v topic=%q, want ok=%v topic=%q", ok, rec.Topic, tc.wantOK, tc.wantTopic)
			}
			if src, _ := headerOf(rec, HeaderSourceTopic); src != tc.topic {
				t.Errorf("source topic header %q, want %q", src, tc.topic)
			}
			if string(rec.Value) != string(tc.payload) {
				t.Errorf("value changed: %q, want the payload unchanged", rec.Value)
			}
			reason, hasReason := headerOf(rec, HeaderReason)
			if tc.wantOK {
				if hasReason || string(rec.Key) != tc.wantKey {
					t.Errorf("key %q reason %q, want key %q and no reason", rec.Key, reason, tc.wantKey)
				}
			} else if reason != tc.wantReason {
				t.Errorf("reason %q, want %q", reason, tc.wantReason)
			}
			loc, hasLoc := headerOf(rec, HeaderLocation)
			if (tc.wantLocation != nil) != hasLoc {
				t.Fatalf("location header %q present=%v, want %v", loc, hasLoc, tc.wantLocation)
			}
			got := ParseLocation([]byte(loc))
			if len(got) != len(tc.wantLocation) {
				t.Fatalf("location %v, want %v", got, tc.wantLocation)
			}
			for k, v := range tc.wantLocation {
				if got[k] != v {
					t.Errorf("location[%s] = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

func TestNewRejectsIncompleteConfig(t *testing.T) {
	tests := []struct {
		name string
		opts []Option
		want []string
	}{
		{name: "nothing", want: []string{"MQTT broker URL", "Kafka brokers", "codec"}},
		{name: "bad qos", opts: []Option{WithMQTT("tcp://x:1"), WithKafka("x:1"), WithCodec(codec.JSON()), WithQoS(3)},
			want: []string{"QoS 3"}},
		{name: "short keep-alive", opts: []Option{WithMQTT("tcp://x:1"), WithKafka("x:1"), WithCodec(codec.JSON()), WithKeepAlive(0)},
			want: []string{"keep-alive"}},
		{name: "empty dlq", opts: []Option{WithMQTT("tcp://x:1"), WithKafka("x:1"), WithCodec(codec.JSON()), WithDeadLetterTopic("")},
			want: []string{"dead-letter"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.opts...)
			if err == nil {
				t.Fatal("New accepted an incomplete config")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestSubscription(t *testing.T) {
	tests := []struct{ group, filter, want string }{
		{"", "#", "#"},
		{"bridges", "#", "$share/bridges/#"},
		{"g", "city/+/env", "$share/g/city/+/env"},
	}
	for _, tc := range tests {
		b, err := New(WithMQTT("tcp://x:1"), WithKafka("x:1"), WithCodec(codec.JSON()), WithShareGroup(tc.group), WithFilter(tc.filter))
		if err != nil {
			t.Fatal(err)
		}
		if got := b.Subscription(); got != tc.want {
			t.Errorf("Subscription() = %q, want %q", got, tc.want)
		}
	}
}

// With one worker per partition, a worker's records must all land in the
// partition of the same number: the worker hash and the writer's partitioner
// have to agree, or partitions get writes from several workers again.
func TestShardIsPartition(t *testing.T) {
	b, err := New(WithMQTT("tcp://127.0.0.1:1"), WithKafka("127.0.0.1:1"), WithCodec(codec.JSON()))
	if err != nil {
		t.Fatal(err)
	}
	ids := []int{0, 1, 2, 3, 4, 5}
	for i := range 1000 {
		m := kafka.Message{Key: []byte("env-" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + string(rune('0'+i%10)))}
		if got, want := shardBalancer.Balance(m, ids...), b.writer.Balancer.Balance(m, ids...); got != want {
			t.Fatalf("key %q: worker %d, partition %d", m.Key, got, want)
		}
	}
}
