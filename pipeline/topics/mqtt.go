package topics

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ValidateTopic checks a topic name a client may publish to (MQTT 3.1.1 §4.7):
// non-empty, valid UTF-8 without NUL, no wildcards, at most MaxTopicLen bytes.
func ValidateTopic(topic string) error {
	if err := validateCommon(topic); err != nil {
		return err
	}
	if strings.ContainsAny(topic, "+#") {
		return fmt.Errorf("topic %q contains a wildcard", topic)
	}
	return nil
}

// ValidateFilter checks a subscription filter: '+' must fill a whole level and
// '#' must fill the last one.
func ValidateFilter(filter string) error {
	if err := validateCommon(filter); err != nil {
		return err
	}
	parts := strings.Split(filter, "/")
	for i, p := range parts {
		switch {
		case p == "#":
			if i != len(parts)-1 {
				return fmt.Errorf("filter %q: '#' must be the last level", filter)
			}
		case p == "+":
		case strings.ContainsAny(p, "+#"):
			return fmt.Errorf("filter %q: wildcard must fill a whole level", filter)
		}
	}
	return nil
}

func validateCommon(s string) error {
	switch {
	case s == "":
		return errors.New("empty topic")
	case len(s) > MaxTopicLen:
		return fmt.Errorf("topic longer than %d bytes", MaxTopicLen)
	case !utf8.ValidString(s):
		return errors.New("topic is not valid UTF-8")
	case strings.ContainsRune(s, 0):
		return errors.New("topic contains NUL")
	}
	return nil
}

// MatchFilter reports whether topic matches filter under MQTT rules: '+' matches
// exactly one level (which may be empty), '#' matches the parent level and any
// number of children, and a wildcard in the first level never matches a topic
// starting with '$' (broker system topics, MQTT 3.1.1 §4.7.2). Invalid filters
// match nothing.
func MatchFilter(filter, topic string) bool {
	if ValidateFilter(filter) != nil || topic == "" {
		return false
	}
	if strings.HasPrefix(topic, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false
	}
	f := strings.Split(filter, "/")
	t := strings.Split(topic, "/")
	for i, fl := range f {
		if fl == "#" {
			return true
		}
		if i >= len(t) {
			return false
		}
		if fl != "+" && fl != t[i] {
			return false
		}
	}
	return len(f) == len(t)
}
