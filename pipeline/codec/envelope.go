package codec

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// Envelope returns the device id and seq a payload carries, for readers that
// identify messages and leave judging the reading to the pipeline (such as a
// load generator's observers). Wherever Decode accepts a payload, Envelope
// returns the same id and seq; it may also accept payloads whose reading Decode
// refuses. Codecs that can read the envelope alone do so for less than Decode.
func Envelope(c Codec, topic string, payload []byte) (deviceID string, seq uint64, err error) {
	if e, ok := c.(envelopeReader); ok {
		return e.envelope(payload)
	}
	r, err := c.Decode(topic, payload)
	return r.DeviceID, r.Seq, err
}

type envelopeReader interface {
	envelope(payload []byte) (deviceID string, seq uint64, err error)
}

// jsonEnvelope is the part of jsonWire that identifies a message: decoding
// only it skips the metrics map, the costliest part of a JSON reading.
type jsonEnvelope struct {
	DeviceID *string `json:"device_id"`
	Seq      uint64  `json:"seq"`
}

func (jsonCodec) envelope(payload []byte) (string, uint64, error) {
	if err := checkPayload(payload); err != nil {
		return "", 0, err
	}
	if id, seq, ok := plainJSONEnvelope(payload); ok {
		return id, seq, nil
	}
	return jsonEnvelopeOf(payload)
}

// jsonEnvelopeOf reads the envelope of any JSON payload with encoding/json.
func jsonEnvelopeOf(payload []byte) (string, uint64, error) {
	if !utf8.Valid(payload) { // as Decode: U+FFFD would turn a corrupt id into another one
		return "", 0, reject(ReasonBadUTF8, "payload is not valid UTF-8")
	}
	var w jsonEnvelope
	if err := json.Unmarshal(payload, &w); err != nil {
		return "", 0, jsonReject(err)
	}
	if w.DeviceID == nil {
		return "", 0, reject(ReasonMissingField, "device_id is missing")
	}
	return *w.DeviceID, w.Seq, nil
}

// plainJSONEnvelope reads the envelope of a payload in exactly the form
// appendJSON writes (see scanPlainJSON). Such a payload is valid JSON (plain
// names make it ASCII) whose device_id and seq occur once, so encoding/json
// reads the same envelope from it. ok is false for every other payload. A fuzz
// test holds the two readers to the same answers.
func plainJSONEnvelope(p []byte) (id string, seq uint64, ok bool) {
	r, ok := scanPlainJSON(p, nil)
	if !ok {
		return "", 0, false
	}
	return string(r.id), r.seq, true
}

// plainFields are the members scanPlainJSON found, as bytes of the payload.
type plainFields struct {
	id, model       []byte
	seq, sampleTime uint64
}

// scanPlainJSON checks that p has exactly the form appendJSON writes — keys
// device_id, seq, sample_time_ns, model (optional) and metrics in that order,
// plain names, integers without sign, metrics a flat object of JSON numbers —
// and returns its members. metric, if not nil, is called with each metric's
// name and number as they appear; its false makes the scan fail. ok is false
// for every payload not in that form.
func scanPlainJSON(p []byte, metric func(name, number []byte) bool) (r plainFields, ok bool) {
	if p, ok = bytes.CutPrefix(p, []byte(`{"device_id":`)); !ok {
		return r, false
	}
	if r.id, p, ok = plainString(p); !ok {
		return r, false
	}
	if p, ok = bytes.CutPrefix(p, []byte(`,"seq":`)); !ok {
		return r, false
	}
	if r.seq, p, ok = plainUint(p); !ok {
		return r, false
	}
	if p, ok = bytes.CutPrefix(p, []byte(`,"sample_time_ns":`)); !ok {
		return r, false
	}
	if r.sampleTime, p, ok = plainUint(p); !ok {
		return r, false
	}
	if rest, hasModel := bytes.CutPrefix(p, []byte(`,"model":`)); hasModel {
		if r.model, p, ok = plainString(rest); !ok {
			return r, false
		}
	}
	if p, ok = bytes.CutPrefix(p, []byte(`,"metrics":{`)); !ok {
		return r, false
	}
	for first := true; len(p) > 0 && p[0] != '}'; first = false {
		if !first {
			if p, ok = bytes.CutPrefix(p, []byte(",")); !ok {
				return r, false
			}
		}
		var name, number []byte
		if name, p, ok = plainString(p); !ok {
			return r, false
		}
		if p, ok = bytes.CutPrefix(p, []byte(":")); !ok {
			return r, false
		}
		number = p
		if p, ok = jsonNumber(p); !ok {
			return r, false
		}
		if metric != nil && !metric(name, number[:len(number)-len(p)]) {
			return r, false
		}
	}
	if !bytes.Equal(p, []byte("}}")) {
		return r, false
	}
	return r, true
}

// plainString splits a quoted plain name (see plainJSON) off the front of p.
func plainString(p []byte) (name, rest []byte, ok bool) {
	if len(p) == 0 || p[0] != '"' {
		return nil, nil, false
	}
	end := bytes.IndexByte(p[1:], '"')
	if end < 0 || !plainJSON(string(p[1:1+end])) {
		return nil, nil, false
	}
	return p[1 : 1+end], p[2+end:], true
}

// plainUint splits a decimal integer without sign or leading zeros off the
// front of p; ok is false if there is none or it overflows uint64.
func plainUint(p []byte) (v uint64, rest []byte, ok bool) {
	n := 0
	for n < len(p) && '0' <= p[n] && p[n] <= '9' {
		d := uint64(p[n] - '0')
		if v > (1<<64-1-d)/10 {
			return 0, nil, false
		}
		v = v*10 + d
		n++
	}
	if n == 0 || n > 1 && p[0] == '0' {
		return 0, nil, false
	}
	return v, p[n:], true
}

// jsonNumber splits a JSON number (RFC 8259: -?int frac? exp?) off the front of p.
func jsonNumber(p []byte) (rest []byte, ok bool) {
	digits := func(p []byte) int {
		n := 0
		for n < len(p) && '0' <= p[n] && p[n] <= '9' {
			n++
		}
		return n
	}
	p, _ = bytes.CutPrefix(p, []byte("-"))
	switch n := digits(p); {
	case n == 0 || n > 1 && p[0] == '0':
		return nil, false
	default:
		p = p[n:]
	}
	if rest, frac := bytes.CutPrefix(p, []byte(".")); frac {
		n := digits(rest)
		if n == 0 {
			return nil, false
		}
		p = rest[n:]
	}
	if len(p) > 0 && (p[0] == 'e' || p[0] == 'E') {
		p = p[1:]
		if len(p) > 0 && (p[0] == '+' || p[0] == '-') {
			p = p[1:]
		}
		n := digits(p)
		if n == 0 {
			return nil, false
		}
		p = p[n:]
	}
	return p, true
}
