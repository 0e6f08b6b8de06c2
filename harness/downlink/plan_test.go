package downlink

import (
	"testing"
	"time"

	"github.com/citybench/citybench/harness/schedule"
	"github.com/citybench/citybench/scenarios"
)

func scenario(t *testing.T, commands string) *scenarios.Scenario {
	t.Helper()
	sc, err := scenarios.Parse("dl.yaml", []byte(`
name: dl
seed: 1
warmup: 2s
duration: 20s
fleets:
  - name: a
    devices: 10
    topic: a/{device}
    codec: json
    qos: 1
    sensors: [{metric: t, mean: 1, stddev: 0}]
    arrival: {kind: fixed, interval: 1s}
  - name: node
    devices: 1000
    topic: n/{device}
    control_topic: n/{device}/control
    codec: json
    qos: 1
    sensors: [{metric: t, mean: 1, stddev: 0}]
    arrival: {kind: fixed, interval: 1s}
commands:
`+commands))
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func TestBuildSpreadsCommands(t *testing.T) {
	tests := []struct {
		name      string
		commands  string
		want      int
		devices   int
		first     time.Duration
		perDevice int
	}{
		{"rate over a tenth", "  - {name: ping, fleet: node, fraction: 0.1, rate: 10}\n", 200, 100, 2 * time.Second, 2},
		{"at offsets to all", "  - {name: ping, fleet: node, at: [5s, 10s]}\n", 2000, 1000, 5 * time.Second, 2},
		{"rate in a window", "  - {name: ping, fleet: node, fraction: 0.5, rate: 4, start: 10s, end: 12s}\n", 8, 8, 10 * time.Second, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := scenario(t, tt.commands)
			plan, err := schedule.Build(sc)
			if err != nil {
				t.Fatal(err)
			}
			p := Build(sc, plan)
			if len(p.Commands) != tt.want {
				t.Fatalf("commands = %d, want %d", len(p.Commands), tt.want)
			}
			per := map[int]int{}
			seqs := map[uint64]bool{}
			for i, c := range p.Commands {
				per[c.Device]++
				if seqs[c.Seq] {
					t.Fatalf("seq %d twice", c.Seq)
				}
				seqs[c.Seq] = true
				if i > 0 && c.At < p.Commands[i-1].At {
					t.Fatalf("command %d at %s before its predecessor", i, c.At)
				}
				if plan.Devices[c.Device].Fleet.Name != "node" {
					t.Fatalf("command to fleet %s", plan.Devices[c.Device].Fleet.Name)
				}
			}
			if len(per) != tt.devices {
				t.Errorf("devices addressed = %d, want %d", len(per), tt.devices)
			}
			for dev, n := range per {
				if n != tt.perDevice {
					t.Errorf("device %d got %d commands, want %d", dev, n, tt.perDevice)
				}
			}
			if p.Commands[0].At != tt.first {
				t.Errorf("first command at %s, want %s", p.Commands[0].At, tt.first)
			}
		})
	}
}

// TestSegmentsAgree checks that the segments of a run hold every command of the
// whole run exactly once, with the same seq and time.
func TestSegmentsAgree(t *testing.T) {
	sc := scenario(t, "  - {name: ping, fleet: node, fraction: 0.1, rate: 10}\n")
	whole, _ := schedule.Build(sc)
	want := map[uint64]time.Duration{}
	for _, c := range Build(sc, whole).Commands {
		want[c.Seq] = c.At
	}
	got := 0
	for i := range 3 {
		plan, err := schedule.BuildSegment(sc, schedule.Segment{I: i, N: 3})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range Build(sc, plan).Commands {
			if at, ok := want[c.Seq]; !ok || at != c.At {
				t.Fatalf("segment %d: command %d at %s, whole run has it at %s (%v)", i, c.Seq, c.At, at, ok)
			}
			got++
		}
	}
	if got != len(want) {
		t.Errorf("segments hold %d commands, the whole run %d", got, len(want))
	}
}

func TestRecorderAccounting(t *testing.T) {
	sc := scenario(t, "  - {name: ping, fleet: node, fraction: 0.01, at: [5s]}\n")
	plan, _ := schedule.Build(sc)
	p := Build(sc, plan)
	start := time.Unix(1000, 0)
	r := NewRecorder(p, func() time.Time { return start })
	at := func(c Planned, d time.Duration) int64 { return start.Add(c.At + d).UnixNano() }
	for i, c := range p.Commands {
		r.sent(i, at(c, time.Millisecond))
	}
	c0, c1 := p.Commands[0], p.Commands[1]
	r.Received(c0.Device, c0.Seq, at(c0, 3*time.Millisecond))
	r.Received(c0.Device, c0.Seq, at(c0, 4*time.Millisecond)) // a QoS 1 redelivery
	r.Received(c1.Device, c0.Seq, at(c0, 4*time.Millisecond)) // the wrong device
	r.ackSeen(c0.Device, c0.Seq, at(c0, 10*time.Millisecond))
	r.ackSeen(c0.Device, 999999, at(c0, 10*time.Millisecond))
	dl, err := r.Summarise(0, 20*time.Second, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ delivered, lost, dups int64 }{{10, 0, 0}, {1, 9, 1}, {1, 9, 0}}
	for i, st := range dl.Stages {
		d := st.Delivery
		if d.Expected != 10 || d.Delivered != want[i].delivered || d.Lost != want[i].lost || d.Duplicated != want[i].dups {
			t.Errorf("%s: %+v, want %+v of 10", st.Stage, d, want[i])
		}
	}
	if rtt := dl.Stages[acked].Latency; rtt.Count != 1 || rtt.MaxUs < 9990 || rtt.MaxUs > 10010 {
		t.Errorf("round trip %+v, want one of 10ms", rtt)
	}
	if svc := dl.Stages[acked].ServiceTime; svc.MaxUs < 8990 || svc.MaxUs > 9010 {
		t.Errorf("round-trip service time %+v, want 9ms (from the send 1 ms late)", svc)
	}
	if dl.Unknown["command_delivered"] != 1 || dl.Unknown["command_acked"] != 1 {
		t.Errorf("unknown = %v, want one misdelivered and one unplanned ack", dl.Unknown)
	}
}
