package topics

import (
	"errors"
	"fmt"
	"strings"
)

// Route maps MQTT topics to one Kafka topic, in the spirit of the HiveMQ Kafka
// extension's mqtt-to-kafka mappings. A topic takes the route when it matches any
// of Filters and, if Template is set, also the template (which then supplies
// variables, e.g. for the text codec). KafkaTopic may name template variables in
// braces, e.g. "city.{city}.readings", to split traffic per city.
type Route struct {
	Filters    []string `json:"mqtt_filters" yaml:"mqtt_filters"`
	KafkaTopic string   `json:"kafka_topic" yaml:"kafka_topic"`
	Template   string   `json:"template,omitempty" yaml:"template,omitempty"`
}

// Match is the outcome of routing one MQTT topic.
type Match struct {
	KafkaTopic string
	Vars       map[string]string // nil when the route has no template
	Template   Template          // zero when the route has no template
	Route      int               // index of the route that matched
}

// Router routes MQTT topics to Kafka topics; the first matching route wins, so
// order specific routes before catch-alls. A Router is immutable and safe for
// concurrent use.
type Router struct {
	routes []compiledRoute
}

type compiledRoute struct {
	filters  []string
	kafka    string
	template Template
}

// NewRouter validates the routes: filters must be valid MQTT filters, Kafka topic
// names legal (after variable substitution), and every variable a Kafka topic
// names must exist in the route's template.
func NewRouter(routes []Route) (*Router, error) {
	if len(routes) == 0 {
		return nil, errors.New("no routes")
	}
	r := &Router{}
	var errs []error
	for i, rt := range routes {
		c, err := compileRoute(rt)
		if err != nil {
			errs = append(errs, fmt.Errorf("route %d: %w", i, err))
			continue
		}
		r.routes = append(r.routes, c)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return r, nil
}

func compileRoute(rt Route) (compiledRoute, error) {
	var c compiledRoute
	if len(rt.Filters) == 0 {
		return c, errors.New("no MQTT filters")
	}
	for _, f := range rt.Filters {
		if err := ValidateFilter(f); err != nil {
			return c, err
		}
	}
	c.filters = append([]string(nil), rt.Filters...)
	if rt.Template != "" {
		t, err := Parse(rt.Template)
		if err != nil {
			return c, err
		}
		c.template = t
	}
	names, err := placeholders(rt.KafkaTopic)
	if err != nil {
		return c, err
	}
	// Validate the name with every placeholder replaced by a legal stand-in, so
	// a typo fails at start-up rather than on the first message.
	probe := rt.KafkaTopic
	for _, n := range names {
		if !c.template.Has(n) {
			return c, fmt.Errorf("kafka topic %q names variable %q that template %q lacks", rt.KafkaTopic, n, rt.Template)
		}
		probe = strings.ReplaceAll(probe, "{"+n+"}", "x")
	}
	if err := ValidateKafkaTopic(probe); err != nil {
		return c, err
	}
	c.kafka = rt.KafkaTopic
	return c, nil
}

// placeholders returns the {var} names in s.
func placeholders(s string) ([]string, error) {
	var names []string
	for {
		open := strings.IndexByte(s, '{')
		if open < 0 {
			if strings.IndexByte(s, '}') >= 0 {
				return nil, fmt.Errorf("unbalanced '}' in %q", s)
			}
			return names, nil
		}
		end := strings.IndexByte(s[open:], '}')
		if end < 0 || strings.IndexByte(s[:open], '}') >= 0 {
			return nil, fmt.Errorf("unbalanced braces in %q", s)
		}
		name := s[open+1 : open+end]
		if !ValidVarName(name) {
			return nil, fmt.Errorf("bad variable %q in %q", name, s)
		}
		names = append(names, name)
		s = s[open+end+1:]
	}
}

// ValidateKafkaTopic checks a Kafka topic name: 1–249 characters from
// [a-zA-Z0-9._-], and not "." or "..".
func ValidateKafkaTopic(name string) error {
	if name == "" || len(name) > 249 {
		return fmt.Errorf("kafka topic %q: length must be 1..249", name)
	}
	if name == "." || name == ".." {
		return fmt.Errorf("kafka topic %q is reserved", name)
	}
	for _, r := range name {
		if !(r == '.' || r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return fmt.Errorf("kafka topic %q: illegal character %q", name, r)
		}
	}
	return nil
}

// Route returns where an MQTT topic goes. ok is false when no route takes it
// (the caller should count and drop or dead-letter it, never guess).
func (r *Router) Route(topic string) (Match, bool) {
	for i, c := range r.routes {
		if !c.matches(topic) {
			continue
		}
		m := Match{Route: i, Template: c.template, KafkaTopic: c.kafka}
		if !c.template.IsZero() {
			vars, ok := c.template.Match(topic)
			if !ok {
				continue
			}
			m.Vars = vars
			for k, v := range vars {
				m.KafkaTopic = strings.ReplaceAll(m.KafkaTopic, "{"+k+"}", v)
			}
			// A variable value can hold characters Kafka forbids; such a topic
			// cannot take this route.
			if ValidateKafkaTopic(m.KafkaTopic) != nil {
				continue
			}
		}
		return m, true
	}
	return Match{}, false
}

// KafkaTopics lists the fixed Kafka topics routes write to, for creating them up
// front; topics with variables are left out as they are only known at run time.
func (r *Router) KafkaTopics() []string {
	var out []string
	seen := map[string]bool{}
	for _, c := range r.routes {
		if strings.ContainsRune(c.kafka, '{') || seen[c.kafka] {
			continue
		}
		seen[c.kafka] = true
		out = append(out, c.kafka)
	}
	return out
}

// Filters returns every MQTT filter of every route, deduplicated, for the
// bridge's subscription.
func (r *Router) Filters() []string {
	var out []string
	seen := map[string]bool{}
	for _, c := range r.routes {
		for _, f := range c.filters {
			if !seen[f] {
				seen[f] = true
				out = append(out, f)
			}
		}
	}
	return out
}

func (c compiledRoute) matches(topic string) bool {
	for _, f := range c.filters {
		if MatchFilter(f, topic) {
			return true
		}
	}
	return false
}
