// Package topics names the MQTT topic layouts a city uses (templates such as
// "hypo_city/{city}/{street}/{group}/{metric}"), matches topics against them and
// against MQTT filters, and routes MQTT topics to Kafka topics.
package topics

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxTopicLen is the MQTT limit on a topic name: it travels as a UTF-8 string
// with a 16-bit length prefix.
const MaxTopicLen = 65535

// Built-in layouts from the project's sources. They are functions rather than
// package variables so nothing shared can be mutated.
const (
	// BuildingPattern is the building network paper's layout; one node per floor
	// publishes an Environment message.
	BuildingPattern = "/{zip}/{building}/{floor}/{node}/environment"
	// HypoCityPattern is the smart-city blog's layout; the last level names the metric.
	HypoCityPattern = "hypo_city/{city}/{street}/{group}/{metric}"
	// TestbenchPattern is the alert-based testbench paper's layout.
	TestbenchPattern = "/{network}/{node}/{country}/{district}/{city}/{area_desc}/{area}/{building}/{room}/{sensor}"
)

// MetricVar is the template variable that names the measured quantity. Codecs
// that carry one value per message take the metric from it.
const MetricVar = "metric"

// Builtin returns a named built-in template: "building", "hypo_city" or "testbench".
func Builtin(name string) (Template, error) {
	switch name {
	case "building":
		return Parse(BuildingPattern)
	case "hypo_city":
		return Parse(HypoCityPattern)
	case "testbench":
		return Parse(TestbenchPattern)
	}
	return Template{}, fmt.Errorf("unknown topic template %q (want building, hypo_city or testbench)", name)
}

// level is one '/'-separated part of a template: a literal or a variable.
type level struct {
	literal string
	varName string // non-empty for a variable level
}

// Template is a parsed topic layout. The zero value matches nothing; build one
// with Parse. Templates are immutable and safe to share.
type Template struct {
	pattern string
	levels  []level
	vars    []string
}

// Parse parses a template whose levels are literals or whole-level variables in
// braces. Variables must be unique; literals must be valid topic levels without
// wildcards.
func Parse(pattern string) (Template, error) {
	if pattern == "" {
		return Template{}, errors.New("empty topic template")
	}
	if len(pattern) > MaxTopicLen {
		return Template{}, fmt.Errorf("topic template longer than %d bytes", MaxTopicLen)
	}
	if !utf8.ValidString(pattern) {
		return Template{}, fmt.Errorf("topic template %q is not valid UTF-8", pattern)
	}
	t := Template{pattern: pattern}
	seen := map[string]bool{}
	for i, part := range strings.Split(pattern, "/") {
		if strings.HasPrefix(part, "{") && strings.HasSuffix(part, "}") {
			name := part[1 : len(part)-1]
			if !ValidVarName(name) {
				return Template{}, fmt.Errorf("template %q level %d: bad variable name %q (letters, digits, _)", pattern, i, name)
			}
			if seen[name] {
				return Template{}, fmt.Errorf("template %q: variable %q used twice", pattern, name)
			}
			seen[name] = true
			t.levels = append(t.levels, level{varName: name})
			t.vars = append(t.vars, name)
			continue
		}
		if strings.ContainsAny(part, "{}+#\x00") {
			return Template{}, fmt.Errorf("template %q level %d: %q mixes text with braces or wildcards", pattern, i, part)
		}
		t.levels = append(t.levels, level{literal: part})
	}
	return t, nil
}

// MustParse is Parse for patterns fixed at compile time; it panics on error.
func MustParse(pattern string) Template {
	t, err := Parse(pattern)
	if err != nil {
		panic(err)
	}
	return t
}

// ValidVarName reports whether s can name a template variable: letters, digits and _.
func ValidVarName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// String returns the pattern the template was parsed from.
func (t Template) String() string { return t.pattern }

// Vars returns the variable names in level order.
func (t Template) Vars() []string { return append([]string(nil), t.vars...) }

// Has reports whether the template has variable name.
func (t Template) Has(name string) bool {
	for _, v := range t.vars {
		if v == name {
			return true
		}
	}
	return false
}

// IsZero reports whether t is the zero Template (parsed from nothing).
func (t Template) IsZero() bool { return len(t.levels) == 0 }

// Match reports whether topic has the template's shape and returns the variable
// values. A variable never matches an empty level: an empty id is a broken
// publisher, not a device.
func (t Template) Match(topic string) (map[string]string, bool) {
	if t.IsZero() {
		return nil, false
	}
	parts := strings.Split(topic, "/")
	if len(parts) != len(t.levels) {
		return nil, false
	}
	vars := make(map[string]string, len(t.vars))
	for i, l := range t.levels {
		if l.varName == "" {
			if parts[i] != l.literal {
				return nil, false
			}
			continue
		}
		if parts[i] == "" || strings.ContainsAny(parts[i], "+#") {
			return nil, false
		}
		vars[l.varName] = parts[i]
	}
	return vars, true
}

// Expand builds a topic from variable values. Every variable must be given, be
// non-empty and contain no '/', wildcard or NUL; extra keys are an error too, as
// they usually mean a typo.
func (t Template) Expand(vars map[string]string) (string, error) {
	if t.IsZero() {
		return "", errors.New("expand of an empty template")
	}
	for k := range vars {
		if !t.Has(k) {
			return "", fmt.Errorf("template %q has no variable %q", t.pattern, k)
		}
	}
	var b strings.Builder
	for i, l := range t.levels {
		if i > 0 {
			b.WriteByte('/')
		}
		if l.varName == "" {
			b.WriteString(l.literal)
			continue
		}
		v, ok := vars[l.varName]
		if !ok || v == "" {
			return "", fmt.Errorf("template %q: variable %q not set", t.pattern, l.varName)
		}
		if strings.ContainsAny(v, "/+#\x00") || !utf8.ValidString(v) {
			return "", fmt.Errorf("template %q: value %q of %q is not a single topic level", t.pattern, v, l.varName)
		}
		b.WriteString(v)
	}
	if b.Len() > MaxTopicLen {
		return "", fmt.Errorf("expanded topic longer than %d bytes", MaxTopicLen)
	}
	return b.String(), nil
}

// Filter returns the MQTT subscription filter that covers every topic of the
// template: each variable becomes '+'.
func (t Template) Filter() string {
	parts := make([]string, len(t.levels))
	for i, l := range t.levels {
		if l.varName != "" {
			parts[i] = "+"
		} else {
			parts[i] = l.literal
		}
	}
	return strings.Join(parts, "/")
}

// DeviceID derives a device identity from matched variables: the values of every
// variable except the metric, in level order, joined by '/'. On the blog's layout
// a sensor group publishing several metrics is thus one device.
func (t Template) DeviceID(vars map[string]string) string {
	var parts []string
	for _, name := range t.vars {
		if name == MetricVar {
			continue
		}
		parts = append(parts, vars[name])
	}
	return strings.Join(parts, "/")
}
