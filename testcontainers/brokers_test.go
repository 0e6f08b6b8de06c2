package testcontainers

import (
	"strconv"
	"strings"
	"testing"

	"github.com/citybench/citybench/scenarios"
)

func TestTopologyForSizesTheBrokerTier(t *testing.T) {
	cases := []struct {
		name    string
		target  scenarios.Target
		devices int
		brokers int
		direct  bool
	}{
		{"devices unknown", scenarios.Target{}, 0, 1, false},
		{"small run keeps the port mapping", scenarios.Target{}, MappedBrokerDevices, 1, false},
		{"one broker's budget, at container addresses", scenarios.Target{}, BrokerDevices, 1, true},
		{"one device more needs a second broker", scenarios.Target{}, BrokerDevices + 1, 2, true},
		{"the 50,000-device city", scenarios.Target{}, 50000, (50000 + BrokerDevices - 1) / BrokerDevices, true},
		{"pinned count kept", scenarios.Target{Brokers: 3}, 600, 3, false},
		{"pinned tier whose shares exceed the mapping", scenarios.Target{Brokers: 2}, 2*MappedBrokerDevices + 2, 2, true},
		{"tls sizes by the mapping's budget", scenarios.Target{Security: "tls"}, 2*MappedBrokerDevices + 1, 3, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			top, err := TopologyFor(c.target, c.devices)
			if err != nil {
				t.Fatal(err)
			}
			if top.Brokers != c.brokers {
				t.Errorf("brokers = %d, want %d", top.Brokers, c.brokers)
			}
			if got := top.DirectBrokers(c.devices); got != c.direct {
				t.Errorf("direct = %v, want %v", got, c.direct)
			}
		})
	}
}

func TestCheckBrokers(t *testing.T) {
	const head = `name: tier
duration: 5s
fleets:
  - name: meter
    devices: %d
    topic: city/{district}/{device}
    locations: {district: [a, b, c]}
    codec: json
    qos: 1
    sensors: [{metric: kwh, mean: 1, stddev: 1}]
    arrival: {kind: fixed, interval: 60s}
target:
  kind: containers
`
	cases := []struct {
		name    string
		devices int
		extra   string
		wantErr []string
	}{
		{name: "automatic tier", devices: 50000},
		{name: "pinned tier large enough", devices: 2 * BrokerDevices, extra: "  brokers: 2\n"},
		{name: "pinned tier too small", devices: 2*BrokerDevices + 1, extra: "  brokers: 2\n",
			wantErr: []string{"tier.yaml:14: target.brokers:", "set brokers to 3 or more"}},
		{name: "more devices than the largest tier", devices: scenarios.MaxBrokers*BrokerDevices + 1,
			wantErr: []string{"tier.yaml:3: fleets:", "--segment"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sc, err := scenarios.Parse("tier.yaml", []byte(strings.Replace(head, "%d", strconv.Itoa(c.devices), 1)+c.extra))
			if err != nil {
				t.Fatal(err)
			}
			err = CheckBrokers(sc)
			if len(c.wantErr) == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted; want %q", c.wantErr)
			}
			for _, w := range c.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}
