package scenarios

import (
	"errors"
	"strings"

	"github.com/citybench/citybench/pipeline/topics"
)

// Placeholders the harness fills from the device itself; any other placeholder
// must be a Locations key.
const (
	PlaceholderDevice = "device"
	PlaceholderMetric = topics.MetricVar
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

// Placeholders returns the names inside {…} in a topic template, in order, or
// why the template is malformed. The rules are the pipeline's own (whole-level
// placeholders, each used once), so any topic a scenario publishes on is one the
// bridge and codecs can read back.
func Placeholders(template string) ([]string, error) {
	t, err := topics.Parse(template)
	if err != nil {
		return nil, err
	}
	return t.Vars(), nil
}

// lastLevelIsMetric reports whether the template's last level is {metric}, where
// the text codec looks for the metric name.
func lastLevelIsMetric(template string) bool {
	return template[strings.LastIndexByte(template, '/')+1:] == "{"+PlaceholderMetric+"}"
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
	}
	return nil
}
