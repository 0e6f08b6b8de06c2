package bridge

import (
	"github.com/citybench/citybench/pipeline/topics"
)

// WithIgnore names MQTT topic filters the bridge leaves alone: a message on a
// matching topic is acknowledged and counted (Stats.Ignored), never written to
// Kafka nor dead-lettered. It is how a deployment keeps its device control
// plane — commands and their acknowledgements, served by another service — out
// of the readings stream when the bridge subscribes to "#".
func WithIgnore(filters ...string) Option {
	return func(c *config) { c.ignore = append(c.ignore, filters...) }
}

// validateIgnore checks the ignore filters.
func validateIgnore(filters []string) error {
	for _, f := range filters {
		if err := topics.ValidateFilter(f); err != nil {
			return err
		}
	}
	return nil
}

// ignores reports whether topic belongs to a filter WithIgnore named.
func (b *Bridge) ignores(topic string) bool {
	for _, f := range b.cfg.ignore {
		if topics.MatchFilter(f, topic) {
			return true
		}
	}
	return false
}
