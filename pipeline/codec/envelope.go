package codec

import (
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
