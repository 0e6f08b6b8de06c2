package codec

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
)

// FuzzAppendJSON holds appendJSON to json.Marshal's bytes for every valid
// reading it takes on, and checks it leaves the rest to json.Marshal.
func FuzzAppendJSON(f *testing.F) {
	for _, s := range []struct {
		id, model, m1, m2 string
		seq               uint64
		ts                int64
		v1, v2            float64
	}{
		{"rome/via_roma/g7", "env-v2", "temperature", "no2", 42, t2023, 28.7, 87.3},
		{"d", "", "a", "", 0, t2023, 0, 0},
		{"meter-00001", "m", "kwh", "kwh2", math.MaxInt64, t2023, 1e-7, 1e21},
		{"d", "m", "a", "b", 1, t2023, -1e-300, math.MaxFloat64},
		{"d", "m", "a", "b", 1, t2023, math.SmallestNonzeroFloat64, -0.000001},
		{"d", "m", "a", "b", 1, t2023, 123456789012345678, 5e-324},
		{"a<b", "m&m", "x>y", `q"`, 1, t2023, 1, 2},
		{`back\slash`, "ünï", "é", "b", 1, t2023, 1, 2},
	} {
		f.Add(s.id, s.model, s.m1, s.m2, s.seq, s.ts, s.v1, s.v2)
	}
	f.Fuzz(func(t *testing.T, id, model, m1, m2 string, seq uint64, ts int64, v1, v2 float64) {
		metrics := map[string]float64{m1: v1}
		if m2 != "" {
			metrics[m2] = v2
		}
		r := Reading{DeviceID: id, Seq: seq, SampleTimeNs: ts, Model: model, Metrics: metrics}
		if Validate(r) != nil {
			return
		}
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := appendJSON(nil, r)
		if !ok {
			if plainJSON(id) && plainJSON(model) && plainJSON(m1) && plainJSON(m2) {
				t.Fatalf("plain reading %+v left to json.Marshal", r)
			}
			return
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("appendJSON\n%s\njson.Marshal\n%s", got, want)
		}
	})
}
