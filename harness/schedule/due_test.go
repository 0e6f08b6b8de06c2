package schedule

import (
	"context"
	"testing"
	"time"
)

func TestDueWait(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		at   time.Duration // from now
		want bool
	}{
		{"passed time goes at once", context.Background(), -time.Second, true},
		{"a time just ahead is waited for", context.Background(), time.Millisecond, true},
		{"an ended context stops a long wait", cancelled, time.Hour, false},
		{"an ended context stops a late send too", cancelled, -time.Second, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			d := NewDue(start)
			defer d.Stop()
			if got := d.Wait(tt.ctx, tt.at); got != tt.want {
				t.Fatalf("Wait = %v, want %v", got, tt.want)
			}
			if tt.want && time.Now().Before(start.Add(tt.at)) {
				t.Fatalf("Wait returned before the due time")
			}
		})
	}
}
