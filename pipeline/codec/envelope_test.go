package codec

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestJSONEnvelope(t *testing.T) {
	good, err := JSON().Encode(reading(map[string]float64{"temperature": 28.7}))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		payload string
		id      string
		seq     uint64
		reason  string // "" when accepted
	}{
		{name: "own encoding", payload: string(good), id: "rome/via_roma/g7", seq: 42},
		{name: "no seq", payload: `{"device_id":"d","sample_time_ns":1700000000000000000,"metrics":{"a":1}}`, id: "d"},
		// Decode refuses the reading; the envelope is still readable.
		{name: "no metrics", payload: `{"device_id":"d","seq":7}`, id: "d", seq: 7},
		// encoding/json's rules, as Decode applies them: keys match case-insensitively, the last one wins.
		{name: "key case", payload: `{"Device_ID":"d","SEQ":3}`, id: "d", seq: 3},
		{name: "repeated key", payload: `{"device_id":"a","seq":1,"seq":2,"device_id":"b"}`, id: "b", seq: 2},
		{name: "no device", payload: `{"seq":1}`, reason: ReasonMissingField},
		{name: "negative seq", payload: `{"device_id":"d","seq":-1}`, reason: ReasonOutOfRange},
		{name: "string seq", payload: `{"device_id":"d","seq":"1"}`, reason: ReasonMalformed},
		{name: "truncated", payload: string(good[:len(good)-1]), reason: ReasonMalformed},
		{name: "bad utf8", payload: "{\"device_id\":\"\xff\",\"seq\":1}", reason: ReasonBadUTF8},
		{name: "empty", payload: "", reason: ReasonMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, seq, err := Envelope(JSON(), cityTopo, []byte(tt.payload))
			if got := Reason(err); got != tt.reason || (err != nil) != (tt.reason != "") {
				t.Fatalf("error %v (reason %q), want reason %q", err, got, tt.reason)
			}
			if err == nil && (id != tt.id || seq != tt.seq) {
				t.Fatalf("envelope (%q, %d), want (%q, %d)", id, seq, tt.id, tt.seq)
			}
		})
	}
}

func TestEnvelopeWithoutFastPath(t *testing.T) {
	p, err := Text().Encode(reading(map[string]float64{"temperature": 28.7}))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Text().Decode(cityTopo, p)
	if err != nil {
		t.Fatal(err)
	}
	id, seq, err := Envelope(Text(), cityTopo, p)
	if err != nil || id != r.DeviceID || seq != r.Seq {
		t.Fatalf("Envelope = (%q, %d, %v), Decode = (%q, %d)", id, seq, err, r.DeviceID, r.Seq)
	}
}

// FuzzPlainJSONEnvelope holds the plain-form readers (envelope and whole
// reading) to encoding/json's answers wherever they read a payload at all.
func FuzzPlainJSONEnvelope(f *testing.F) {
	for _, metrics := range []map[string]float64{{"temperature": 28.7}, {"a": -1e-7, "b": 1e21, "c": 0}} {
		good, err := JSON().Encode(reading(metrics))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(good)
	}
	f.Add([]byte(`{"device_id":"d","seq":1,"sample_time_ns":1,"metrics":{}}`))
	f.Add([]byte(`{"device_id":"d","seq":01,"sample_time_ns":1,"metrics":{"a":1}}`))
	f.Add([]byte(`{"device_id":"d","seq":18446744073709551616,"sample_time_ns":1,"metrics":{"a":1}}`))
	f.Add([]byte(`{"device_id":"d","seq":1,"sample_time_ns":1,"metrics":{"a":1.}}`))
	f.Add([]byte(`{"device_id":"d","seq":1,"sample_time_ns":1,"metrics":{"a":1},"seq":2}`))
	f.Add([]byte(`{"device_id":"d\"","seq":1,"sample_time_ns":1,"metrics":{"a":1}}`))
	f.Add([]byte(`{"device_id":"d","seq":1,"sample_time_ns":9223372036854775808,"metrics":{"a":1}}`))
	f.Add([]byte(`{"device_id":"d","seq":1,"sample_time_ns":1,"model":"","metrics":{"a":1e400,"b":-0}}`))
	f.Add([]byte(`{"device_id":"d","seq":1,"sample_time_ns":1,"metrics":{"a":1,"a":2.5e-3}}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		if r, ok := plainJSONReading(payload); ok {
			want, err := decodeJSONOf(payload)
			if err != nil || !reflect.DeepEqual(r, want) {
				t.Fatalf("plain decoder %+v, encoding/json %+v, %v for %q", r, want, err, payload)
			}
		}
		id, seq, ok := plainJSONEnvelope(payload)
		if !ok {
			return
		}
		wantID, wantSeq, err := jsonEnvelopeOf(payload)
		if err != nil || id != wantID || seq != wantSeq {
			t.Fatalf("plain reader (%q, %d), encoding/json (%q, %d, %v) for %q", id, seq, wantID, wantSeq, err, payload)
		}
		if !json.Valid(payload) {
			t.Fatalf("plain reader took invalid JSON %q", payload)
		}
	})
}

func TestPlainJSONReadersReadOwnEncoding(t *testing.T) {
	for _, metrics := range []map[string]float64{{"temperature": 28.7}, {"a": -1e-7, "b": 1e21, "c": 0}} {
		r := reading(metrics)
		r.Model = "env-v2"
		p, err := JSON().Encode(r)
		if err != nil {
			t.Fatal(err)
		}
		if id, seq, ok := plainJSONEnvelope(p); !ok || id != r.DeviceID || seq != r.Seq {
			t.Errorf("plainJSONEnvelope(%s) = (%q, %d, %v)", p, id, seq, ok)
		}
		if got, ok := plainJSONReading(p); !ok || !reflect.DeepEqual(got, r) {
			t.Errorf("plainJSONReading(%s) = (%+v, %v), want %+v", p, got, ok, r)
		}
	}
}

// BenchmarkDecodeJSON compares Decode of citybench's own form (the plain
// reader) with encoding/json's reading of the same payload.
func BenchmarkDecodeJSON(b *testing.B) {
	p, err := JSON().Encode(reading(map[string]float64{"temperature": 28.7, "humidity": 60}))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("decode", func(b *testing.B) {
		for b.Loop() {
			if _, err := JSON().Decode("", p); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			if _, err := decodeJSONOf(p); err != nil {
				b.Fatal(err)
			}
		}
	})
}
