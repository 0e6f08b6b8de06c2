// Package codec turns device readings into MQTT payloads and back (JSON, Protobuf,
// the smart-city blog's tab-separated text), and says why any payload is rejected.
package codec

import (
	"errors"
	"fmt"
)

// Reading is one sample sent by one device. DeviceID, Seq and SampleTimeNs form the
// envelope every codec carries: the pipeline keys storage on them and a replay of
// the same reading overwrites instead of duplicating.
type Reading struct {
	DeviceID     string             `json:"device_id"`
	Seq          uint64             `json:"seq"`            // per device, from 1
	SampleTimeNs int64              `json:"sample_time_ns"` // ns since Unix epoch
	Model        string             `json:"model,omitempty"`
	Metrics      map[string]float64 `json:"metrics"`
}

// Codec encodes and decodes readings. topic is the MQTT topic the payload travelled
// on: the text codec takes the metric name (and, when absent from the payload,
// identity) from it; other codecs ignore it.
type Codec interface {
	Name() string
	Encode(r Reading) ([]byte, error)
	Decode(topic string, payload []byte) (Reading, error)
}

// RejectError says why a payload was refused. Reason is a short, stable, machine
// readable word ("missing_field", "out_of_range", "oversize", "bad_utf8", "malformed");
// Detail is for humans.
type RejectError struct {
	Reason string
	Detail string
}

func (e *RejectError) Error() string { return fmt.Sprintf("%s: %s", e.Reason, e.Detail) }

// Reason returns the rejection reason of err, or "" if err is not a rejection.
func Reason(err error) string {
	var re *RejectError
	if errors.As(err, &re) {
		return re.Reason
	}
	return ""
}
