package codec

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/citybench/citybench/pipeline/codec/pb"
)

// fuzzDecode checks the contract every Decode keeps on hostile input: no panic,
// every error is a rejection with a known reason, and whatever is accepted is
// valid, has the envelope Envelope reads, and survives a re-encode/decode unchanged.
func fuzzDecode(f *testing.F, c Codec, seeds ...[]byte) {
	f.Add(cityTopo, []byte{})
	for _, s := range seeds {
		f.Add(cityTopo, s)
		f.Add("/94103/b12/f3/n1/environment", s)
	}
	known := map[string]bool{ReasonMissingField: true, ReasonOutOfRange: true, ReasonOversize: true,
		ReasonBadUTF8: true, ReasonMalformed: true, ReasonBadName: true, ReasonUnsupported: true, ReasonBadTopic: true}
	f.Fuzz(func(t *testing.T, topic string, payload []byte) {
		r, err := c.Decode(topic, payload)
		if err != nil {
			if reason := Reason(err); !known[reason] {
				t.Fatalf("error without a known reason (%q): %v", reason, err)
			}
			return
		}
		if err := Validate(r); err != nil {
			t.Fatalf("accepted an invalid reading %+v: %v", r, err)
		}
		if f, ok := c.(DeviceFinder); ok {
			if id, found := f.FindDevice(topic, payload); found && string(id) != r.DeviceID {
				t.Fatalf("FindDevice %q, Decode %q for %q", id, r.DeviceID, payload)
			}
		}
		if id, seq, err := Envelope(c, topic, payload); err != nil || id != r.DeviceID || seq != r.Seq {
			t.Fatalf("Envelope = (%q, %d, %v) where Decode read (%q, %d)", id, seq, err, r.DeviceID, r.Seq)
		}
		b, err := c.Encode(r)
		if err != nil {
			if Reason(err) == ReasonUnsupported {
				return
			}
			t.Fatalf("cannot re-encode accepted reading %+v: %v", r, err)
		}
		back, err := c.Decode(topic, b)
		if err != nil {
			t.Fatalf("cannot decode own encoding %q: %v", b, err)
		}
		if back.DeviceID != r.DeviceID || back.Seq != r.Seq || back.SampleTimeNs != r.SampleTimeNs || len(back.Metrics) != len(r.Metrics) {
			t.Fatalf("re-encode changed the reading: %+v -> %+v", r, back)
		}
	})
}

func FuzzDecodeJSON(f *testing.F) {
	good, _ := JSON().Encode(reading(map[string]float64{"temperature": 28.7, "no2": 87.3}))
	fuzzDecode(f, JSON(), good, []byte(`{"device_id":"d","seq":-1}`), []byte(`{"metrics":{"a":1e400}}`),
		[]byte(`{"model":"device_id","Device_ID":"b","device_id":"a","sample_time_ns":1,"metrics":{}}`))
}

func FuzzDecodeText(f *testing.F) {
	good, _ := Text().Encode(reading(map[string]float64{"temperature": 28.7}))
	fuzzDecode(f, Text(), good, []byte("1700000000\t28.7\n"), []byte("1700000000.5\t-0"), []byte("1\t2\t3\t4"))
}

func FuzzDecodeProtobuf(f *testing.F) {
	good, _ := Protobuf().Encode(reading(map[string]float64{"temperature": 28.7, "co2": 400}))
	env, _ := proto.Marshal(&pb.Environment{Temperature: 21, Humidity: 40, Co2: 600, Timestamp: 1700000000000})
	fuzzDecode(f, Protobuf(), good, env, []byte("\x0a\x01\xff"))
}
