package codec

import (
	"fmt"
	"math"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits every codec enforces. They bound what one message can cost the
// pipeline; a device that needs more is misconfigured.
const (
	// MaxPayload is the largest payload any codec decodes or produces.
	MaxPayload = 64 << 10
	// MaxIDLen bounds device ids and model names in bytes.
	MaxIDLen = 128
	// MaxMetricNameLen bounds one metric name in bytes.
	MaxMetricNameLen = 64
	// MaxMetrics bounds how many metrics one reading carries.
	MaxMetrics = 256
)

// Sample times must fall in [MinSampleTimeNs, MaxSampleTimeNs] (1990-01-01 to
// 2200-01-01 UTC). The lower bound admits replays of recorded data sets; the
// upper one catches timestamps in the wrong unit.
const (
	MinSampleTimeNs int64 = 631152000 * int64(time.Second)
	MaxSampleTimeNs int64 = 7258118400 * int64(time.Second)
)

// Reasons a payload is rejected. They are stable words: metrics and dead-letter
// records are keyed on them.
const (
	ReasonMissingField = "missing_field"
	ReasonOutOfRange   = "out_of_range"
	ReasonOversize     = "oversize"
	ReasonBadUTF8      = "bad_utf8"
	ReasonMalformed    = "malformed"
	ReasonBadName      = "bad_name"    // an id or metric name with forbidden characters
	ReasonUnsupported  = "unsupported" // a valid reading this codec cannot express
)

func reject(reason, format string, args ...any) *RejectError {
	return &RejectError{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

// Validate checks a reading against the rules every codec shares and returns a
// *RejectError naming the first rule broken. Seq 0 is allowed: it marks a reading
// from a device that does not number its messages (the blog's two-field text
// form); such readings are still keyed by time.
func Validate(r Reading) error {
	if err := validateName("device_id", r.DeviceID, MaxIDLen, true); err != nil {
		return err
	}
	if r.Model != "" {
		if err := validateName("model", r.Model, MaxIDLen, false); err != nil {
			return err
		}
	}
	switch {
	case r.SampleTimeNs == 0:
		return reject(ReasonMissingField, "sample_time_ns is not set")
	case r.SampleTimeNs < MinSampleTimeNs || r.SampleTimeNs > MaxSampleTimeNs:
		return reject(ReasonOutOfRange, "sample_time_ns %d (%s) outside [%s, %s]", r.SampleTimeNs,
			time.Unix(0, r.SampleTimeNs).UTC().Format(time.RFC3339Nano),
			time.Unix(0, MinSampleTimeNs).UTC().Format(time.DateOnly), time.Unix(0, MaxSampleTimeNs).UTC().Format(time.DateOnly))
	}
	if r.Seq > math.MaxInt64 {
		// Stores and Kafka headers carry seq as a signed 64-bit integer.
		return reject(ReasonOutOfRange, "seq %d exceeds %d", r.Seq, int64(math.MaxInt64))
	}
	if len(r.Metrics) == 0 {
		return reject(ReasonMissingField, "no metrics")
	}
	if len(r.Metrics) > MaxMetrics {
		return reject(ReasonOversize, "%d metrics, at most %d", len(r.Metrics), MaxMetrics)
	}
	for name, v := range r.Metrics {
		if err := validateName("metric name", name, MaxMetricNameLen, true); err != nil {
			return err
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return reject(ReasonOutOfRange, "metric %q is %v", name, v)
		}
	}
	return nil
}

// validateName checks identifiers that end up in topics, keys and tab-separated
// text: printable UTF-8, no whitespace, no MQTT wildcards.
func validateName(what, s string, maxLen int, required bool) error {
	if s != "" && len(s) <= maxLen && plainName(s) {
		return nil // the common case, without the rune-by-rune checks below
	}
	switch {
	case s == "" && required:
		return reject(ReasonMissingField, "%s is empty", what)
	case len(s) > maxLen:
		return reject(ReasonOversize, "%s is %d bytes, at most %d", what, len(s), maxLen)
	case !utf8.ValidString(s):
		return reject(ReasonBadUTF8, "%s is not valid UTF-8", what)
	case strings.ContainsAny(s, "+#"):
		return reject(ReasonBadName, "%s %q contains an MQTT wildcard", what, s)
	}
	for _, c := range s {
		if unicode.IsSpace(c) || !unicode.IsPrint(c) {
			return reject(ReasonBadName, "%s %q contains whitespace or a control character", what, s)
		}
	}
	return nil
}

// plainName reports whether s is printable ASCII without space and MQTT
// wildcards: a name validateName accepts whenever its length is.
func plainName(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '+' || c == '#' {
			return false
		}
	}
	return true
}

// checkPayload applies the checks every Decode starts with.
func checkPayload(payload []byte) error {
	if len(payload) == 0 {
		return reject(ReasonMalformed, "empty payload")
	}
	if len(payload) > MaxPayload {
		return reject(ReasonOversize, "payload is %d bytes, at most %d", len(payload), MaxPayload)
	}
	return nil
}

// checkEncoded bounds what Encode produces so a producer cannot emit what a
// consumer will refuse.
func checkEncoded(b []byte) ([]byte, error) {
	if len(b) > MaxPayload {
		return nil, reject(ReasonOversize, "encoded reading is %d bytes, at most %d", len(b), MaxPayload)
	}
	return b, nil
}

// ByName returns the codec called name with its default options: "json",
// "protobuf" or "text".
func ByName(name string) (Codec, error) {
	switch name {
	case "json":
		return JSON(), nil
	case "protobuf":
		return Protobuf(), nil
	case "text":
		return Text(), nil
	}
	return nil, fmt.Errorf("unknown codec %q (want one of %s)", name, strings.Join(Names(), ", "))
}

// Names lists the codec names ByName accepts.
func Names() []string { return []string{"json", "protobuf", "text"} }
