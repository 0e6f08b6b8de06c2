package codec

import (
	"math"
	"slices"
	"strconv"
)

// appendJSON appends the bytes json.Marshal produces for a valid reading whose
// names need no escaping, without reflection: encoding every message of a load
// run through json.Marshal was a visible share of the generator's CPU. ok is
// false, with b unchanged, when a name needs escaping; the caller then uses
// json.Marshal itself. A test holds the two to the same bytes.
func appendJSON(b []byte, r Reading) (_ []byte, ok bool) {
	if !plainJSON(r.DeviceID) || !plainJSON(r.Model) {
		return b, false
	}
	for name := range r.Metrics {
		if !plainJSON(name) {
			return b, false
		}
	}
	b = append(b, `{"device_id":"`...)
	b = append(b, r.DeviceID...)
	b = append(b, `","seq":`...)
	b = strconv.AppendUint(b, r.Seq, 10)
	b = append(b, `,"sample_time_ns":`...)
	b = strconv.AppendInt(b, r.SampleTimeNs, 10)
	if r.Model != "" {
		b = append(b, `,"model":"`...)
		b = append(b, r.Model...)
		b = append(b, '"')
	}
	b = append(b, `,"metrics":{`...)
	appendMetric := func(name string) {
		b = append(b, '"')
		b = append(b, name...)
		b = append(b, `":`...)
		b = appendJSONFloat(b, r.Metrics[name])
	}
	if len(r.Metrics) == 1 {
		for name := range r.Metrics {
			appendMetric(name)
		}
	} else {
		names := make([]string, 0, len(r.Metrics))
		for name := range r.Metrics {
			names = append(names, name)
		}
		slices.Sort(names) // encoding/json writes map keys sorted
		for i, name := range names {
			if i > 0 {
				b = append(b, ',')
			}
			appendMetric(name)
		}
	}
	return append(b, "}}"...), true
}

// plainJSON reports whether encoding/json writes s between quotes as it is:
// printable ASCII other than the quote, the backslash and the HTML characters
// it escapes.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c >= 0x7f, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}

// appendJSONFloat formats a finite float64 as encoding/json does (ES6 number
// to string: %f, or %e outside [1e-6, 1e21) with the exponent unpadded).
func appendJSONFloat(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' { // e-07 → e-7
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}
