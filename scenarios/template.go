package scenarios

import (
	"errors"
	"fmt"
	"strings"
)

// Placeholders the harness fills from the device itself; any other placeholder
// must be a Locations key.
const (
	PlaceholderDevice = "device"
	PlaceholderMetric = "metric"
	PlaceholderFleet  = "fleet"
	PlaceholderIndex  = "index"
)

var builtinPlaceholders = []string{PlaceholderDevice, PlaceholderMetric, PlaceholderFleet, PlaceholderIndex}

func isBuiltinPlaceholder(name string) bool {
	for _, b := range builtinPlaceholders {
		if b == name {
			return true
		}
	}
	return false
}

// Placeholders returns the names inside {…} in a topic template, in order of
// appearance, or why the template is malformed.
func Placeholders(template string) ([]string, error) {
	var names []string
	rest := template
	for {
		open := strings.IndexAny(rest, "{}")
		if open < 0 {
			return names, nil
		}
		if rest[open] == '}' {
			return nil, errors.New("'}' without a matching '{'")
		}
		end := strings.IndexAny(rest[open+1:], "{}/")
		if end < 0 || rest[open+1+end] != '}' {
			return nil, fmt.Errorf("unclosed '{' at %q", rest[open:])
		}
		name := rest[open+1 : open+1+end]
		if !isIdent(name) {
			return nil, fmt.Errorf("placeholder {%s}: want letters, digits or _", name)
		}
		names = append(names, name)
		rest = rest[open+1+end+1:]
	}
}

func isIdent(s string) bool {
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

// checkPublishTopic applies MQTT's rules for topics a client publishes to: a
// broker disconnects a client that publishes to a wildcard, and $-topics belong
// to the broker.
func checkPublishTopic(t string) error {
	switch {
	case t == "":
		return errors.New("topic is empty")
	case strings.ContainsAny(t, "+#"):
		return errors.New("wildcards + and # are not allowed in a publish topic")
	case strings.HasPrefix(t, "$"):
		return errors.New("topics starting with $ are reserved for the broker")
	case strings.ContainsRune(t, 0):
		return errors.New("topic contains a NUL character")
	case len(t) > 65535:
		return errors.New("topic longer than MQTT's 65535 bytes")
	}
	return nil
}
