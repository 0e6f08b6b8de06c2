package scenarios

import (
	"fmt"
	"time"

	"gopkg.in/yaml.v3"
)

// UnmarshalYAML reads "500ms", "2s", "1m30s". A bare number is refused (except 0)
// because "10" could mean seconds or milliseconds and a wrong guess silently
// changes the load by 1000×.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return durationError(n, "want a duration such as 500ms, 2s or 1m")
	}
	if n.Value == "0" {
		*d = 0
		return nil
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		if n.Tag == "!!int" || n.Tag == "!!float" {
			return durationError(n, fmt.Sprintf("duration %s has no unit (write e.g. %ss or %sms)", n.Value, n.Value, n.Value))
		}
		return durationError(n, fmt.Sprintf("invalid duration %q (want e.g. 500ms, 2s or 1m)", n.Value))
	}
	*d = Duration(v)
	return nil
}

// durationError is a *yaml.TypeError so the decoder records it and carries on,
// letting one pass report every bad duration in the file.
func durationError(n *yaml.Node, msg string) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %s", n.Line, msg)}}
}

// MarshalYAML writes d back in the form it is read.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// String formats d like time.Duration ("1m30s").
func (d Duration) String() string { return time.Duration(d).String() }
