package store

import "testing"

func TestValueBytes(t *testing.T) {
	tests := []struct {
		name string
		row  Row
		want int
	}{
		{"no metrics", Row{DeviceID: "dev-1", Day: "2026-12-01"}, 5 + 10 + 8 + 8 + 4},
		{"two metrics", Row{DeviceID: "dev-1", Day: "2026-12-01", Metrics: map[string]float64{"no2": 87.3, "so2": 122.1}}, 35 + 2*(4+3+4+8)},
	}
	for _, tt := range tests {
		if got := tt.row.ValueBytes(); got != tt.want {
			t.Errorf("%s: %d bytes, want %d", tt.name, got, tt.want)
		}
	}
}
