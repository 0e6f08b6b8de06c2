package malformed

import (
	"testing"

	"github.com/citybench/citybench/pipeline/codec"
	"github.com/citybench/citybench/scenarios"
)

// TestEveryKindIsRefusedByItsCodec: each kind's payload, for each codec, is one
// the pipeline's own codec refuses, with the reason a dead letter will carry.
func TestEveryKindIsRefusedByItsCodec(t *testing.T) {
	one := codec.Reading{DeviceID: "env-00001", Seq: 7, SampleTimeNs: 1_700_000_000_000_000_000, Model: "m", Metrics: map[string]float64{"temperature": 28.7}}
	tests := []struct {
		codec, kind, reason string
	}{
		{"json", scenarios.MalformedTruncated, codec.ReasonMalformed},
		{"json", scenarios.MalformedWrongSchema, codec.ReasonMissingField},
		{"json", scenarios.MalformedWrongCodec, codec.ReasonBadUTF8},
		{"json", scenarios.MalformedOversize, codec.ReasonOversize},
		{"protobuf", scenarios.MalformedTruncated, codec.ReasonMalformed},
		{"protobuf", scenarios.MalformedWrongSchema, codec.ReasonMissingField},
		{"protobuf", scenarios.MalformedWrongCodec, codec.ReasonMalformed},
		{"protobuf", scenarios.MalformedOversize, codec.ReasonOversize},
		{"text", scenarios.MalformedTruncated, codec.ReasonMalformed},
		{"text", scenarios.MalformedWrongSchema, codec.ReasonMalformed},
		{"text", scenarios.MalformedWrongCodec, codec.ReasonMalformed},
		{"text", scenarios.MalformedOversize, codec.ReasonOversize},
	}
	for _, tc := range tests {
		t.Run(tc.codec+"/"+tc.kind, func(t *testing.T) {
			c, err := codec.ByName(tc.codec)
			if err != nil {
				t.Fatal(err)
			}
			topic := "city/env-00001/temperature"
			valid, err := c.Encode(one)
			if err != nil {
				t.Fatal(err)
			}
			bad, err := Payload(tc.kind, c, one, valid)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Decode(topic, bad)
			if got := codec.Reason(err); got != tc.reason {
				t.Fatalf("decode of %q: reason %q (%v), want %q", truncate(bad), got, err, tc.reason)
			}
		})
	}
}

func truncate(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "…"
	}
	return string(b)
}

func TestBookMatchesByPayload(t *testing.T) {
	b := NewBook()
	b.Sent(3, 9, scenarios.MalformedOversize, []byte("aaaa"))
	b.Sent(4, 1, scenarios.MalformedTruncated, []byte("bb"))
	if !b.DeadLettered([]byte("aaaa"), "oversize") || !b.DeadLettered([]byte("aaaa"), "oversize") {
		t.Fatal("a booked payload was not matched")
	}
	if b.DeadLettered([]byte("zz"), "bad_name") {
		t.Fatal("an unknown payload matched")
	}
	kinds, unmatched := b.Counts()
	if o := kinds[scenarios.MalformedOversize]; o.Injected != 1 || o.DeadLettered != 1 || o.Duplicates != 1 || o.Reasons["oversize"] != 1 {
		t.Errorf("oversize %+v: want 1 injected, 1 dead-lettered, 1 duplicate", o)
	}
	if tr := kinds[scenarios.MalformedTruncated]; tr.Injected != 1 || tr.DeadLettered != 0 {
		t.Errorf("truncated %+v: want 1 injected, none dead-lettered", tr)
	}
	if unmatched["bad_name"] != 1 {
		t.Errorf("unmatched %v", unmatched)
	}
	if in, dead := b.Totals(); in != 2 || dead != 1 {
		t.Errorf("totals %d/%d, want 2/1", in, dead)
	}
}
