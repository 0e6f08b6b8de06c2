package scenarios

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestFaultsParse(t *testing.T) {
	tests := []struct {
		name    string
		faults  string
		wantErr string // substring of the first error, "" for valid
		line    int    // the line the error must name
	}{
		{"kill kafka broker", "  - {at: 1s, duration: 2s, action: kill, target: kafka-2}\n", "", 0},
		{"controller and leader", "  - {at: 1s, duration: 1s, action: kill, target: kafka-controller}\n  - {at: 3s, duration: 1s, action: kill, target: kafka-leader, partition: 2}\n", "", 0},
		{"network on a link", "  - {at: 1s, duration: 2s, action: latency, target: bridge-1, peer: kafka, latency: 200ms, jitter: 20ms}\n", "", 0},
		{"partition every link", "  - {at: 1s, duration: 2s, action: partition, target: broker}\n", "", 0},
		{"stall the store", "  - {at: 1s, duration: 2s, action: stall, target: store}\n", "", 0},
		{"restart", "  - {at: 2s, action: restart, target: broker}\n", "", 0},
		{"one after another", "  - {at: 1s, duration: 1s, action: kill, target: api}\n  - {at: 2s, duration: 1s, action: kill, target: api}\n", "", 0},
		{"different components at once", "  - {at: 1s, duration: 2s, action: kill, target: sink-1}\n  - {at: 1s, duration: 2s, action: kill, target: bridge-1}\n", "", 0},
		{"unknown field", "  - {at: 1s, duration: 2s, action: kill, target: api, sigal: 9}\n", `unknown field "sigal"`, 12},
		{"unknown action", "  - {at: 1s, duration: 2s, action: nuke, target: api}\n", `faults[0].action: unknown action "nuke"`, 12},
		{"unknown target", "  - {at: 1s, duration: 2s, action: kill, target: redis}\n", `faults[0].target: unknown target "redis"`, 12},
		{"past the end", "  - {at: 4s, duration: 2s, action: kill, target: api}\n", "fault ends at 6s, past the run's end at 5s", 12},
		{"starts after the end", "  - {at: 6s, duration: 2s, action: kill, target: api}\n", "faults[0].at: fault ends at 8s", 12},
		{"missing duration", "  - {at: 1s, action: kill, target: api}\n", "faults[0].duration: kill needs a positive duration", 12},
		{"negative at", "  - {at: -1s, duration: 1s, action: kill, target: api}\n", "faults[0].at: must not be negative", 12},
		{"overlap", "  - {at: 1s, duration: 2s, action: kill, target: sink-1}\n  - {at: 2s, duration: 2s, action: stop, target: sink-1}\n", "faults[1].at: overlaps faults[0] on sink-1", 13},
		{"overlapping link", "  - {at: 1s, duration: 2s, action: partition, target: bridge-1}\n  - {at: 2s, duration: 2s, action: latency, latency: 1s, target: bridge-1, peer: kafka}\n", "overlaps faults[0] on link bridge-1–kafka", 13},
		{"stall a node", "  - {at: 1s, duration: 1s, action: stall, target: cassandra-1}\n", "faults[0].target: stall acts on the store", 12},
		{"kill the store", "  - {at: 1s, duration: 1s, action: kill, target: store}\n", "name a node (cassandra-N)", 12},
		{"no such link", "  - {at: 1s, duration: 1s, action: reset, target: api, peer: kafka}\n", "api and kafka do not talk to each other", 12},
		{"peer on a process fault", "  - {at: 1s, duration: 1s, action: kill, target: api, peer: store}\n", "peer applies only to network faults", 12},
		{"bandwidth without rate", "  - {at: 1s, duration: 1s, action: bandwidth, target: sink-1}\n", "bandwidth needs a positive rate_kbps", 12},
		{"index 0", "  - {at: 1s, duration: 1s, action: kill, target: sink-0}\n", "instances count from 1", 12},
		{"single instance with index", "  - {at: 1s, duration: 1s, action: kill, target: broker-1}\n", "broker has a single instance", 12},
		{"controller of cassandra", "  - {at: 1s, duration: 1s, action: kill, target: cassandra-controller}\n", "only kafka has a controller", 12},
		{"partition without leader", "  - {at: 1s, duration: 1s, action: kill, target: kafka-1, partition: 1}\n", "partition applies only to target kafka-leader", 12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse("f.yaml", []byte(minimal+"faults:\n"+tt.faults))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if len(s.Faults) == 0 || s.Faults[0].At.D() < time.Second {
					t.Fatalf("faults not decoded: %+v", s.Faults)
				}
				return
			}
			wantFieldError(t, err, "f.yaml", tt.wantErr, tt.line)
		})
	}
}

func TestFaultError(t *testing.T) {
	s, err := Parse("f.yaml", []byte(minimal+"faults:\n  - {at: 1s, duration: 1s, action: pause, target: api}\n  - action: stop\n    at: 2s\n    duration: 1s\n    target: sink-1\n"))
	if err != nil {
		t.Fatal(err)
	}
	e := s.FaultError(1, "target", "the embedded target cannot %s", "stop sinks one by one")
	if got, want := e.Error(), "f.yaml:16: faults[1].target: the embedded target cannot stop sinks one by one"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// wantFieldError fails t unless err is ValidationErrors with one containing
// want that names file and line.
func wantFieldError(t *testing.T, err error, file, want string, line int) {
	t.Helper()
	var verrs ValidationErrors
	if !errors.As(err, &verrs) {
		t.Fatalf("got %v, want ValidationErrors containing %q", err, want)
	}
	for _, e := range verrs {
		if strings.Contains(e.Error(), want) {
			if e.Line != line || e.File != file {
				t.Errorf("%q names %s:%d, want %s:%d", e, e.File, e.Line, file, line)
			}
			return
		}
	}
	t.Fatalf("errors %v do not contain %q", err, want)
}
