package scenarios

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// FieldError is one problem in a scenario file, placed so an editor can jump to it:
// "smoke.yaml:14: fleets[0].codec: unknown codec \"xml\" (want json, protobuf or text)".
type FieldError struct {
	File string
	Line int    // 1-based; 0 when the scenario was not read from YAML
	Path string // e.g. fleets[0].codec; empty for file-level problems
	Msg  string
}

func (e *FieldError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	} else if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// FieldError is a problem with the field at path (e.g. target.brokers), named
// with its file and line, for checks made outside this package (a target's limits).
func (s *Scenario) FieldError(path, format string, args ...any) *FieldError {
	return &FieldError{File: s.File, Line: s.lineOf(path), Path: path, Msg: fmt.Sprintf(format, args...)}
}

// ValidationErrors is every problem found in one file, in line order, so a user
// fixes them in one pass rather than one run per mistake.
type ValidationErrors []*FieldError

func (v ValidationErrors) Error() string {
	msgs := make([]string, len(v))
	for i, e := range v {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// Unwrap lets errors.As find the individual FieldErrors.
func (v ValidationErrors) Unwrap() []error {
	errs := make([]error, len(v))
	for i, e := range v {
		errs[i] = e
	}
	return errs
}

// sorted orders errors by line, keeping the order of discovery within a line.
func (v ValidationErrors) sorted() ValidationErrors {
	slices.SortStableFunc(v, func(a, b *FieldError) int { return cmp.Compare(a.Line, b.Line) })
	return v
}
