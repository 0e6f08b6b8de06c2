package api

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// paramError is a bad query or path parameter; it becomes a 400 naming the parameter.
type paramError struct {
	param string
	msg   string
}

func (e *paramError) Error() string { return e.param + ": " + e.msg }

func badParam(param, format string, args ...any) *paramError {
	return &paramError{param: param, msg: fmt.Sprintf(format, args...)}
}

// parseTime accepts RFC 3339 (with or without fraction) or integer Unix milliseconds,
// the two forms dashboards and scripts naturally produce.
func parseTime(param, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, badParam(param, "empty time")
	}
	if isDigits(v) || (v[0] == '-' && isDigits(v[1:])) {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return time.Time{}, badParam(param, "unix milliseconds out of range: %q", v)
		}
		if ms < 0 {
			return time.Time{}, badParam(param, "time before 1970 not supported: %q", v)
		}
		return time.UnixMilli(ms).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, badParam(param, "want RFC 3339 (2006-01-02T15:04:05Z) or unix milliseconds, got %q", v)
	}
	if t.Year() < 1970 {
		return time.Time{}, badParam(param, "time before 1970 not supported: %q", v)
	}
	return t.UTC(), nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// timeRange reads from/to: to defaults to now, from to "to" minus the default
// window. It refuses empty, inverted and over-long ranges so that no request can make
// the store scan more than maxRange of a device's partitions.
func (s *server) timeRange(q url.Values) (from, to time.Time, err error) {
	to = s.cfg.now().UTC()
	if q.Has("to") {
		if to, err = parseTime("to", q.Get("to")); err != nil {
			return
		}
	}
	from = to.Add(-s.cfg.window)
	if q.Has("from") {
		if from, err = parseTime("from", q.Get("from")); err != nil {
			return
		}
	}
	if !from.Before(to) {
		return from, to, badParam("to", "must be after from (%s)", from.Format(time.RFC3339Nano))
	}
	if to.Sub(from) > s.cfg.maxRange {
		return from, to, badParam("from", "time range %s exceeds the maximum of %s", to.Sub(from), s.cfg.maxRange)
	}
	return from, to, nil
}

func (s *server) limit(q url.Values) (int, error) {
	if !q.Has("limit") {
		return s.cfg.defaultLimit, nil
	}
	v := q.Get("limit")
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, badParam("limit", "not an integer: %q", v)
	}
	if n < 1 || n > s.cfg.maxLimit {
		return 0, badParam("limit", "must be between 1 and %d, got %d", s.cfg.maxLimit, n)
	}
	return n, nil
}

const maxNameLen = 256

// validName checks a device ID or metric name: printable, no control characters,
// bounded length. It keeps junk out of store queries and logs.
func validName(param, v string) error {
	if v == "" {
		return badParam(param, "must not be empty")
	}
	if len(v) > maxNameLen {
		return badParam(param, "longer than %d bytes", maxNameLen)
	}
	if strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\uFFFD' }) {
		return badParam(param, "contains control or invalid characters")
	}
	return nil
}

// metric reads the optional metric filter ("" = all metrics).
func metric(q url.Values) (string, error) {
	if !q.Has("metric") {
		return "", nil
	}
	m := q.Get("metric")
	if err := validName("metric", m); err != nil {
		return "", err
	}
	return m, nil
}

// onlyKnown refuses parameters the endpoint does not define: a typo such as
// "form=" silently falling back to a default would return the wrong data.
func onlyKnown(q url.Values, known ...string) error {
	for _, k := range slices.Sorted(maps.Keys(q)) {
		if !slices.Contains(known, k) {
			return badParam(k, "unknown parameter (accepted: %s)", strings.Join(known, ", "))
		}
		if n := len(q[k]); n > 1 {
			return badParam(k, "given %d times", n)
		}
	}
	return nil
}
