package codec

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

type jsonCodec struct{}

// JSON returns the JSON codec: one object per payload,
//
//	{"device_id":"rome/via_roma/g7","seq":42,"sample_time_ns":1700000000000000000,
//	 "model":"env-v2","metrics":{"temperature":28.7,"no2":87.3}}
//
// device_id, sample_time_ns and metrics are required; seq may be omitted (0,
// unsequenced); unknown fields are ignored so devices can add fields before the
// pipeline knows them.
func JSON() Codec { return jsonCodec{} }

func (jsonCodec) Name() string { return "json" }

func (jsonCodec) Encode(r Reading) ([]byte, error) {
	if err := Validate(r); err != nil {
		return nil, err
	}
	if b, ok := appendJSON(make([]byte, 0, 128), r); ok {
		return checkEncoded(b)
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, reject(ReasonMalformed, "encode: %v", err)
	}
	return checkEncoded(b)
}

// jsonWire uses pointers to tell a missing field from a zero one.
type jsonWire struct {
	DeviceID     *string             `json:"device_id"`
	Seq          *uint64             `json:"seq"`
	SampleTimeNs *int64              `json:"sample_time_ns"`
	Model        string              `json:"model"`
	Metrics      *map[string]float64 `json:"metrics"`
}

func (jsonCodec) Decode(_ string, payload []byte) (Reading, error) {
	if err := checkPayload(payload); err != nil {
		return Reading{}, err
	}
	r, ok := plainJSONReading(payload)
	if !ok {
		var err error
		if r, err = decodeJSONOf(payload); err != nil {
			return Reading{}, err
		}
	}
	if err := Validate(r); err != nil {
		return Reading{}, err
	}
	return r, nil
}

// plainJSONReading reads a payload in exactly the form appendJSON writes (see
// scanPlainJSON) without encoding/json, which was a third of the bridge's CPU
// in its benchmark (make bench-pipeline). ok is false for every other payload, and for
// numbers encoding/json refuses (out of range), so Decode's error stays
// encoding/json's. A fuzz test holds it to decodeJSONOf's answers.
func plainJSONReading(payload []byte) (Reading, bool) {
	metrics := make(map[string]float64, 4)
	f, ok := scanPlainJSON(payload, func(name, number []byte) bool {
		v, err := strconv.ParseFloat(string(number), 64)
		metrics[string(name)] = v // a repeated name: the last wins, as in encoding/json
		return err == nil
	})
	if !ok || f.sampleTime > math.MaxInt64 {
		return Reading{}, false
	}
	return Reading{DeviceID: string(f.id), Seq: f.seq, SampleTimeNs: int64(f.sampleTime), Model: string(f.model),
		Metrics: metrics}, true
}

// decodeJSONOf reads any JSON payload with encoding/json; Decode validates.
func decodeJSONOf(payload []byte) (Reading, error) {
	// encoding/json silently replaces invalid UTF-8 with U+FFFD, which would turn
	// a corrupt device id into a different, valid one.
	if !utf8.Valid(payload) {
		return Reading{}, reject(ReasonBadUTF8, "payload is not valid UTF-8")
	}
	var w jsonWire
	if err := json.Unmarshal(payload, &w); err != nil {
		return Reading{}, jsonReject(err)
	}
	switch {
	case w.DeviceID == nil:
		return Reading{}, reject(ReasonMissingField, "device_id is missing")
	case w.SampleTimeNs == nil:
		return Reading{}, reject(ReasonMissingField, "sample_time_ns is missing")
	case w.Metrics == nil || *w.Metrics == nil:
		return Reading{}, reject(ReasonMissingField, "metrics is missing")
	}
	r := Reading{DeviceID: *w.DeviceID, SampleTimeNs: *w.SampleTimeNs, Model: w.Model, Metrics: *w.Metrics}
	if w.Seq != nil {
		r.Seq = *w.Seq
	}
	return r, nil
}

func jsonReject(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		// A number that does not fit its field (negative seq, 1e400) is a value
		// problem; a string where a number belongs is a shape problem.
		if strings.HasPrefix(te.Value, "number") {
			return reject(ReasonOutOfRange, "field %q: %v", te.Field, err)
		}
		return reject(ReasonMalformed, "field %q: %v", te.Field, err)
	}
	return reject(ReasonMalformed, "%v", err)
}
