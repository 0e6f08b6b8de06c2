package topics

import (
	"maps"
	"slices"
	"testing"
)

func TestParseRejects(t *testing.T) {
	for _, p := range []string{"", "a/{x}/{x}", "a/{}/b", "a/{x-y}", "a/b{x}", "a/+/b", "a/#", "a/{x}y"} {
		if _, err := Parse(p); err == nil {
			t.Errorf("Parse(%q) succeeded, want error", p)
		}
	}
}

func TestTemplateMatchExpandFilter(t *testing.T) {
	tests := []struct {
		pattern string
		topic   string
		want    map[string]string // nil = no match
		filter  string
	}{
		{HypoCityPattern, "hypo_city/rome/via_roma/g7/temperature",
			map[string]string{"city": "rome", "street": "via_roma", "group": "g7", "metric": "temperature"},
			"hypo_city/+/+/+/+"},
		{BuildingPattern, "/94103/b12/f3/n1/environment",
			map[string]string{"zip": "94103", "building": "b12", "floor": "f3", "node": "n1"},
			"/+/+/+/+/environment"},
		{BuildingPattern, "94103/b12/f3/n1/environment", nil, "/+/+/+/+/environment"},  // missing leading level
		{BuildingPattern, "/94103/b12/f3/n1/temperature", nil, "/+/+/+/+/environment"}, // literal differs
		{BuildingPattern, "/94103//f3/n1/environment", nil, "/+/+/+/+/environment"},    // empty variable
		{HypoCityPattern, "hypo_city/rome/via_roma/g7", nil, "hypo_city/+/+/+/+"},      // too short
		{HypoCityPattern, "hypo_city/rome/via_roma/g7/t/x", nil, "hypo_city/+/+/+/+"},  // too long
		{"fixed/topic", "fixed/topic", map[string]string{}, "fixed/topic"},
	}
	for _, tc := range tests {
		tpl := MustParse(tc.pattern)
		got, ok := tpl.Match(tc.topic)
		if ok != (tc.want != nil) || !maps.Equal(got, tc.want) {
			t.Errorf("%s Match(%q) = %v,%v want %v", tc.pattern, tc.topic, got, ok, tc.want)
		}
		if f := tpl.Filter(); f != tc.filter {
			t.Errorf("%s Filter() = %q want %q", tc.pattern, f, tc.filter)
		}
		if !MatchFilter(tpl.Filter(), tc.topic) && tc.want != nil {
			t.Errorf("filter %q does not cover matched topic %q", tpl.Filter(), tc.topic)
		}
		if tc.want == nil {
			continue
		}
		back, err := tpl.Expand(got)
		if err != nil || back != tc.topic {
			t.Errorf("Expand(Match(%q)) = %q, %v", tc.topic, back, err)
		}
	}
}

func TestExpandRejects(t *testing.T) {
	tpl := MustParse(HypoCityPattern)
	full := map[string]string{"city": "c", "street": "s", "group": "g", "metric": "m"}
	tests := map[string]func(map[string]string){
		"missing": func(m map[string]string) { delete(m, "city") },
		"empty":   func(m map[string]string) { m["city"] = "" },
		"slash":   func(m map[string]string) { m["city"] = "a/b" },
		"plus":    func(m map[string]string) { m["street"] = "+" },
		"hash":    func(m map[string]string) { m["group"] = "x#" },
		"extra":   func(m map[string]string) { m["zip"] = "1" },
	}
	for name, mutate := range tests {
		vars := maps.Clone(full)
		mutate(vars)
		if got, err := tpl.Expand(vars); err == nil {
			t.Errorf("%s: Expand succeeded with %q", name, got)
		}
	}
}

func TestDeviceID(t *testing.T) {
	tpl := MustParse(HypoCityPattern)
	vars, _ := tpl.Match("hypo_city/rome/via_roma/g7/no2")
	if got := tpl.DeviceID(vars); got != "rome/via_roma/g7" {
		t.Errorf("DeviceID = %q", got)
	}
}

func TestBuiltin(t *testing.T) {
	for _, name := range []string{"building", "hypo_city", "testbench"} {
		if _, err := Builtin(name); err != nil {
			t.Errorf("Builtin(%q): %v", name, err)
		}
	}
	if _, err := Builtin("nope"); err == nil {
		t.Error("Builtin(nope) succeeded")
	}
}

func TestMatchFilter(t *testing.T) {
	tests := []struct {
		filter, topic string
		want          bool
	}{
		{"a/b/c", "a/b/c", true},
		{"a/b/c", "a/b/d", false},
		{"a/+/c", "a/x/c", true},
		{"a/+/c", "a//c", true}, // '+' matches an empty level
		{"a/+", "a/x/c", false},
		{"a/#", "a", true}, // '#' includes the parent level
		{"a/#", "a/x/y/z", true},
		{"a/#", "b/x", false},
		{"#", "a/b", true},
		{"#", "/a", true},
		{"+/+", "/a", true},
		{"+", "/a", false},
		{"#", "$SYS/broker/load", false}, // no wildcard match of $-topics at the first level
		{"+/broker/load", "$SYS/broker/load", false},
		{"$SYS/#", "$SYS/broker/load", true},
		{"$SYS/+/load", "$SYS/broker/load", true},
		{"/#", "$/alerts", false},
		{"a/b#", "a/b#", false}, // invalid filter matches nothing
		{"a/#/b", "a/x/b", false},
		{"sport/tennis/+", "sport/tennis", false},
		{"sport/+", "sport/", true},
	}
	for _, tc := range tests {
		if got := MatchFilter(tc.filter, tc.topic); got != tc.want {
			t.Errorf("MatchFilter(%q, %q) = %v want %v", tc.filter, tc.topic, got, tc.want)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, f := range []string{"a/+/b", "#", "+", "a/#", "/+", "$SYS/#"} {
		if err := ValidateFilter(f); err != nil {
			t.Errorf("ValidateFilter(%q): %v", f, err)
		}
	}
	for _, f := range []string{"", "a/#/b", "a+", "a/b#", "a\x00b", "\xff"} {
		if err := ValidateFilter(f); err == nil {
			t.Errorf("ValidateFilter(%q) accepted", f)
		}
	}
	for _, tp := range []string{"", "a/+", "a/#", "a\x00"} {
		if err := ValidateTopic(tp); err == nil {
			t.Errorf("ValidateTopic(%q) accepted", tp)
		}
	}
	if err := ValidateTopic("/a//b"); err != nil {
		t.Errorf("ValidateTopic(/a//b): %v", err)
	}
}

func TestRouter(t *testing.T) {
	r, err := NewRouter([]Route{
		{Filters: []string{"hypo_city/+/+/+/traffic_speed"}, KafkaTopic: "traffic"},
		{Filters: []string{"hypo_city/#"}, KafkaTopic: "city.{city}", Template: HypoCityPattern},
		{Filters: []string{"/+/+/+/+/environment", "/legacy/#"}, KafkaTopic: "buildings"},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		topic string
		kafka string
		route int
		ok    bool
	}{
		{"hypo_city/rome/via_roma/g1/traffic_speed", "traffic", 0, true}, // first match wins
		{"hypo_city/rome/via_roma/g1/no2", "city.rome", 1, true},
		{"hypo_city/rome/extra/level/g1/no2", "", 0, false}, // filter matches, template does not
		{"hypo_city/r%me/s/g/no2", "", 0, false},            // variable yields an illegal Kafka name
		{"/94103/b1/f1/n1/environment", "buildings", 2, true},
		{"/legacy/x", "buildings", 2, true},
		{"other/topic", "", 0, false},
	}
	for _, tc := range tests {
		m, ok := r.Route(tc.topic)
		if ok != tc.ok || m.KafkaTopic != tc.kafka || (ok && m.Route != tc.route) {
			t.Errorf("Route(%q) = %+v,%v want %q route %d %v", tc.topic, m, ok, tc.kafka, tc.route, tc.ok)
		}
	}
	m, _ := r.Route("hypo_city/rome/via_roma/g1/no2")
	if m.Vars["metric"] != "no2" || m.Vars["street"] != "via_roma" {
		t.Errorf("vars = %v", m.Vars)
	}
	if got := r.KafkaTopics(); !slices.Equal(got, []string{"traffic", "buildings"}) {
		t.Errorf("KafkaTopics = %v", got)
	}
	if got := r.Filters(); len(got) != 4 {
		t.Errorf("Filters = %v", got)
	}
}

func TestNewRouterRejects(t *testing.T) {
	tests := map[string][]Route{
		"no routes":       nil,
		"no filters":      {{KafkaTopic: "k"}},
		"bad filter":      {{Filters: []string{"a/#/b"}, KafkaTopic: "k"}},
		"bad kafka":       {{Filters: []string{"a"}, KafkaTopic: "a b"}},
		"empty kafka":     {{Filters: []string{"a"}}},
		"unknown var":     {{Filters: []string{"a/+"}, KafkaTopic: "k.{zip}", Template: "a/{city}"}},
		"var no template": {{Filters: []string{"a/+"}, KafkaTopic: "k.{city}"}},
		"bad template":    {{Filters: []string{"a/+"}, KafkaTopic: "k", Template: "a/{x}/{x}"}},
		"unbalanced":      {{Filters: []string{"a/+"}, KafkaTopic: "k.{city", Template: "a/{city}"}},
	}
	for name, routes := range tests {
		if _, err := NewRouter(routes); err == nil {
			t.Errorf("%s: NewRouter accepted %+v", name, routes)
		}
	}
}
