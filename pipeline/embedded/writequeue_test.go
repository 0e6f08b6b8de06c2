package embedded

import "testing"

func TestWriteQueueFitsTheBudget(t *testing.T) {
	cases := []struct {
		connections int
		want        int32
	}{
		{0, 65535},    // not sized: the deepest queue
		{100, 65535},  // a demo: the deepest queue fits
		{2008, 8355},  // the district demo with its bridge and taps
		{5009, 3349},  // 5,000 meters
		{20000, 1024}, // beyond the budget: mochi's receive maximum
	}
	for _, c := range cases {
		got := writeQueue(c.connections)
		if got != c.want {
			t.Errorf("writeQueue(%d) = %d, want %d", c.connections, got, c.want)
		}
		if c.connections > 0 && got > 1024 && int64(got)*8*int64(c.connections) > WriteQueueBudget {
			t.Errorf("writeQueue(%d) = %d: %d B over the %d B budget", c.connections, got, int64(got)*8*int64(c.connections), WriteQueueBudget)
		}
	}
}
