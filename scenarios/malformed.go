package scenarios

import (
	"fmt"
	"math"
	"slices"
)

// Kinds of deliberately malformed payloads a fleet can send (Fleet.Malformed).
// Each is built from the reading the device would have sent:
const (
	// MalformedTruncated is the payload cut to its first half, as a connection
	// dropped mid-write leaves it.
	MalformedTruncated = "truncated"
	// MalformedWrongSchema is well-formed in the fleet's codec but not a reading:
	// the envelope's fields under other names or wire types.
	MalformedWrongSchema = "wrong_schema"
	// MalformedWrongCodec is the reading encoded in another codec than the
	// pipeline decodes (protobuf for a json fleet, json otherwise).
	MalformedWrongCodec = "wrong_codec"
	// MalformedOversize is the valid payload padded past the codecs' 64 KiB limit.
	MalformedOversize = "oversize"
)

// MalformedKinds lists every kind, in the order results report them.
var MalformedKinds = []string{MalformedTruncated, MalformedWrongSchema, MalformedWrongCodec, MalformedOversize}

// malformed checks a fleet's malformed fraction and kinds.
func (v *validator) malformed(p string, f *Fleet) {
	if !(f.Malformed >= 0 && f.Malformed <= 1) || math.IsInf(f.Malformed, 0) {
		v.add(p+".malformed", "must be a fraction between 0 and 1, got %v", f.Malformed)
	}
	if len(f.MalformedKinds) > 0 && f.Malformed == 0 {
		v.add(p+".malformed_kinds", "malformed_kinds without a malformed fraction sends nothing malformed: set malformed (e.g. 0.01)")
	}
	seen := map[string]bool{}
	for i, k := range f.MalformedKinds {
		kp := fmt.Sprintf("%s.malformed_kinds[%d]", p, i)
		switch {
		case !slices.Contains(MalformedKinds, k):
			v.add(kp, "unknown malformed kind %q (want one of %v)", k, MalformedKinds)
		case seen[k]:
			v.add(kp, "malformed kind %q appears twice", k)
		}
		seen[k] = true
	}
}

// MalformedMix is the kinds the fleet's malformed messages are drawn from: those it names, or every kind.
func (f *Fleet) MalformedMix() []string {
	if len(f.MalformedKinds) > 0 {
		return f.MalformedKinds
	}
	return MalformedKinds
}

// MalformedError is a problem with fleet i's malformed field found outside
// validation (a run mode that cannot count malformed messages), naming its file
// and line.
func (s *Scenario) MalformedError(i int, format string, args ...any) *FieldError {
	path := fmt.Sprintf("fleets[%d].malformed", i)
	return &FieldError{File: s.File, Line: s.lineOf(path), Path: path, Msg: fmt.Sprintf(format, args...)}
}
