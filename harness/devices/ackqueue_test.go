package devices

import (
	"testing"
	"time"

	"github.com/citybench/citybench/scenarios"
)

func TestAckQueueCoversTheAckHorizon(t *testing.T) {
	cases := []struct {
		name    string
		arrival scenarios.Arrival
		want    int
	}{
		{"meter once a minute: the floor", scenarios.Arrival{Kind: "fixed", Interval: scenarios.Duration(time.Minute)}, 16},
		{"one a second: two minutes of readings", scenarios.Arrival{Kind: "fixed", Interval: scenarios.Duration(time.Second)}, 121},
		{"poisson, mean 500 ms", scenarios.Arrival{Kind: "poisson", Interval: scenarios.Duration(500 * time.Millisecond)}, 241},
		{"ten a second: the ceiling", scenarios.Arrival{Kind: "fixed", Interval: scenarios.Duration(100 * time.Millisecond)}, 1024},
		{"no interval (replay): the ceiling", scenarios.Arrival{Kind: "fixed"}, 1024},
		{"burst: its in-flight bound", scenarios.Arrival{Kind: scenarios.ArrivalBurst, Inflight: 4}, 4},
		{"burst, default in-flight", scenarios.Arrival{Kind: scenarios.ArrivalBurst}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := ackQueue(c.arrival); got != c.want {
				t.Errorf("ackQueue = %d, want %d", got, c.want)
			}
		})
	}
}
