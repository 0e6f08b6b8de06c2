package schedule

import (
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/citybench/citybench/scenarios"
)

func parse(t *testing.T, y string) *scenarios.Scenario {
	t.Helper()
	sc, err := scenarios.Parse("test.yaml", []byte(y))
	if err != nil {
		t.Fatalf("parse scenario: %v", err)
	}
	return sc
}

const district = `
name: d
seed: 7
warmup: 1s
phases:
  - {name: steady, duration: 10s}
  - {name: burst, duration: 5s, rate_factor: 4}
fleets:
  - name: air
    devices: 50
    model: m1
    topic: hypo_city/{city}/{street}/{group}/{metric}
    locations: {city: [berlin, paris], street: [a, b, c], group: [g1]}
    codec: text
    qos: 1
    sensors:
      - {metric: no2, mean: 87.3, stddev: 0.5}
      - {metric: speed, mean: 0, stddev: 25, min: 0}
    arrival: {kind: fixed, interval: 1s, jitter: 100ms}
`

func TestBuildIsDeterministic(t *testing.T) {
	a, err := Build(parse(t, district))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Build(parse(t, district))
	if err != nil {
		t.Fatal(err)
	}
	if a.Count() == 0 {
		t.Fatal("empty plan")
	}
	for i := range a.Devices {
		da, db := a.Devices[i], b.Devices[i]
		if da.ID != db.ID || !reflect.DeepEqual(da.Location, db.Location) || !reflect.DeepEqual(da.Messages(), db.Messages()) {
			t.Fatalf("device %d differs between two builds of the same scenario and seed", i)
		}
	}
	other := parse(t, district)
	other.Seed = 8
	c, err := Build(other)
	if err != nil {
		t.Fatal(err)
	}
	if reflect.DeepEqual(a.Devices[0].Messages(), c.Devices[0].Messages()) {
		t.Fatal("a different seed produced the same intended times and values")
	}
}

func TestBuildTopicsAndValues(t *testing.T) {
	p, err := Build(parse(t, district))
	if err != nil {
		t.Fatal(err)
	}
	d := p.Devices[4] // index 4: city = 4%2 → berlin, street = (4/2)%3 → c
	if got, want := d.Topics(), []string{"hypo_city/berlin/c/g1/no2", "hypo_city/berlin/c/g1/speed"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("topics = %v, want %v", got, want)
	}
	var no2Sum float64
	var n int
	for i, m := range d.Messages() {
		if m.Seq != uint64(i+1) {
			t.Fatalf("message %d has seq %d", i, m.Seq)
		}
		if m.Topic != d.Topics()[m.Metric] {
			t.Fatalf("message %d on %s carries metric %d", i, m.Topic, m.Metric)
		}
		if m.Values[1] < 0 {
			t.Fatalf("speed %v below its min 0", m.Values[1])
		}
		if m.Metric == 0 {
			no2Sum += m.Values[0]
			n++
		}
	}
	if mean := no2Sum / float64(n); math.Abs(mean-87.3) > 0.3 {
		t.Fatalf("NO2 mean %.3f over %d samples, want ≈ 87.3", mean, n)
	}
}

func TestWillTopic(t *testing.T) {
	base := strings.Replace(district, "    codec: text\n", "    codec: text\n    will: {topic: %q, payload: gone}\n", 1)
	cases := []struct {
		name, will string
		want       string // for device 4 (city berlin, street c, group g1)
	}{
		{"builtins", "status/{fleet}/{index}/{device}", "status/air/4/air-00004"},
		{"locations of the topic", "{city}/{street}/{device}/status", "berlin/c/air-00004/status"},
		{"location only the will names", "{group}/{room}/{device}", "g1/r0/air-00004"},
		{"no placeholder", "city/offline", "city/offline"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sc := parse(t, strings.Replace(fmt.Sprintf(base, c.will), "group: [g1]}", "group: [g1], room: [r0, r1, r2]}", 1))
			p, err := Build(sc)
			if err != nil {
				t.Fatal(err)
			}
			d := p.Devices[4]
			if got := d.WillTopic(); got != c.want {
				t.Errorf("will topic = %q, want %q", got, c.want)
			}
			// The will's own location keys must not move devices of the topic's.
			if got, want := d.Topics()[0], "hypo_city/berlin/c/g1/no2"; got != want {
				t.Errorf("topic = %q, want %q", got, want)
			}
		})
	}
	if got := (&Device{Fleet: &scenarios.Fleet{}}).WillTopic(); got != "" {
		t.Errorf("fleet without will: %q", got)
	}
}

func TestBuildRates(t *testing.T) {
	p, err := Build(parse(t, district))
	if err != nil {
		t.Fatal(err)
	}
	// Per second: 50 devices × 2 metrics at 1/s in steady, ×4 in burst.
	count := func(from, to time.Duration) int {
		n := 0
		for _, d := range p.Devices {
			for _, m := range d.Messages() {
				if m.At >= from && m.At < to {
					n++
				}
			}
		}
		return n
	}
	tests := []struct {
		name     string
		from, to time.Duration
		want     float64
	}{
		{"steady", 3 * time.Second, 10 * time.Second, 100},
		{"burst", 12 * time.Second, 16 * time.Second, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rate := float64(count(tt.from, tt.to)) / (tt.to - tt.from).Seconds()
			if math.Abs(rate-tt.want)/tt.want > 0.05 {
				t.Fatalf("rate %.1f/s, want %.0f/s ± 5%%", rate, tt.want)
			}
		})
	}
	for _, d := range p.Devices {
		msgs := d.Messages()
		for i := 1; i < len(msgs); i++ {
			if msgs[i].At < msgs[i-1].At {
				t.Fatalf("device %s: intended times go backwards at seq %d", d.ID, i+1)
			}
		}
		if last := msgs[len(msgs)-1].At; last >= p.End {
			t.Fatalf("device %s sends at %s, after the end %s", d.ID, last, p.End)
		}
	}
}

func TestRampAndActiveFraction(t *testing.T) {
	sc := parse(t, `
name: ramp
seed: 1
phases:
  - {name: ramp-up, duration: 10s, ramp: true, rate_factor: 1, active_fraction: 1}
  - {name: half, duration: 10s, active_fraction: 0.5}
fleets:
  - name: f
    devices: 100
    model: m
    topic: t/{device}
    codec: json
    qos: 0
    sensors: [{metric: x, mean: 1, stddev: 0}]
    arrival: {kind: poisson, interval: 1s}
`)
	p, err := Build(sc)
	if err != nil {
		t.Fatal(err)
	}
	perSecond := make([]int, 20)
	senders := map[string]bool{}
	for _, d := range p.Devices {
		for _, m := range d.Messages() {
			perSecond[int(m.At/time.Second)]++
			if m.At >= 10*time.Second {
				senders[d.ID] = true
			}
		}
	}
	if !(perSecond[1] < perSecond[5] && perSecond[5] < perSecond[9]) {
		t.Fatalf("ramp does not rise: %v", perSecond[:10])
	}
	if len(senders) != 50 {
		t.Fatalf("%d devices send at active_fraction 0.5 of 100", len(senders))
	}
}

func TestSeverityModesChangeInterval(t *testing.T) {
	sc := parse(t, `
name: sev
seed: 3
duration: 120s
fleets:
  - name: rooms
    devices: 1
    model: m
    topic: /{zip}/b/f/{device}/environment
    locations: {zip: ["10115"]}
    codec: json
    qos: 1
    sensors: [{metric: temperature, mean: 20, stddev: 0.01}]
    arrival: {kind: fixed, interval: 6s}
    severity:
      metric: temperature
      trend: 1
      modes:
        - {name: NORMAL, above: -1000, interval: 6s}
        - {name: WARNING, above: 25, interval: 4s}
        - {name: DANGER, above: 30, interval: 2s}
`)
	p, err := Build(sc)
	if err != nil {
		t.Fatal(err)
	}
	msgs := p.Devices[0].Messages()
	gaps := map[string][]time.Duration{}
	for i := 1; i < len(msgs); i++ {
		mode := Mode(sc.Fleets[0].Severity, msgs[i-1].Values[0])
		gaps[mode] = append(gaps[mode], msgs[i].At-msgs[i-1].At)
	}
	for mode, want := range map[string]time.Duration{"NORMAL": 6 * time.Second, "WARNING": 4 * time.Second, "DANGER": 2 * time.Second} {
		if len(gaps[mode]) == 0 {
			t.Fatalf("no samples in mode %s", mode)
		}
		for _, g := range gaps[mode] {
			if g != want {
				t.Fatalf("mode %s: gap %s, want %s", mode, g, want)
			}
		}
	}
}

const burstScenario = `
name: b
seed: 11
duration: 1m
fleets:
  - name: hall
    devices: 4
    topic: /net/{device}/{metric}
    codec: json
    qos: 2
    sensors:
      - {metric: temperature, mean: 21, stddev: 2}
      - {metric: humidity, mean: 40, stddev: 5}
    arrival: {kind: burst, count: 5, inflight: 2, start: 2s}
`

func TestBurstPlan(t *testing.T) {
	a, err := Build(parse(t, burstScenario))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Build(parse(t, burstScenario))
	if err != nil {
		t.Fatal(err)
	}
	if !a.ClosedLoop() {
		t.Error("a burst plan must say it is closed loop")
	}
	if a.Count() != 4*5 {
		t.Fatalf("plan has %d messages, want 4 devices × 5", a.Count())
	}
	for i, d := range a.Devices {
		if !reflect.DeepEqual(d.Messages(), b.Devices[i].Messages()) {
			t.Fatalf("device %d: two builds of the same scenario and seed differ", i)
		}
		wantAt := time.Duration(i) * 500 * time.Millisecond // 2s spread over 4 devices
		msgs := d.Messages()
		for j, m := range msgs {
			if m.Seq != uint64(j+1) || m.At != wantAt {
				t.Fatalf("device %d message %d: seq %d at %s, want seq %d at %s", i, j, m.Seq, m.At, j+1, wantAt)
			}
			if m.Metric != j%2 || m.Topic != d.Topic(j%2) {
				t.Errorf("device %d message %d: metric %d on %s, want metrics in turn", i, j, m.Metric, m.Topic)
			}
		}
		// The messages of one round of metrics carry one sample.
		if &msgs[0].Values[0] != &msgs[1].Values[0] || &msgs[1].Values[0] == &msgs[2].Values[0] {
			t.Errorf("device %d: want one sample per round of metrics", i)
		}
	}
	if reflect.DeepEqual(a.Devices[0].Messages()[0].Values, a.Devices[1].Messages()[0].Values) {
		t.Error("two devices drew the same values: the seed is not per device")
	}
}
