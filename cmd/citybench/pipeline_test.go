package main

import (
	"bytes"
	"context"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer lets the test read what a running command has printed so far.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func runPipelineCmd(ctx context.Context, out *syncBuffer, args ...string) int {
	cmd := newPipelineCmd()
	cmd.SetArgs(args)
	cmd.SetOut(out)
	cmd.SetErr(out)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	if err := cmd.ExecuteContext(ctx); err != nil {
		_, _ = out.Write([]byte(err.Error()))
		return exitCode(err)
	}
	return exitOK
}

func TestPipelineServeRejectsBadInput(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{name: "unknown component", args: []string{"serve", "router"}, want: "unknown component"},
		{name: "no component", args: []string{"serve"}, want: "accepts 1 arg"},
		{name: "up with args", args: []string{"up", "now"}, want: "unknown command"},
		{name: "bad codec", args: []string{"serve", "bridge", "--codec=xml"}, want: "xml"},
		{name: "bad env", env: map[string]string{"CITYBENCH_DRAIN_TIMEOUT": "later"}, args: []string{"serve", "sink"},
			want: "CITYBENCH_DRAIN_TIMEOUT"},
		{name: "bad log level", args: []string{"serve", "api", "--log-level=loud"}, want: "log level"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var out syncBuffer
			code := runPipelineCmd(t.Context(), &out, tc.args...)
			if code != exitInvalid || !strings.Contains(out.String(), tc.want) {
				t.Fatalf("exit %d output %q, want exit %d mentioning %q", code, out.String(), exitInvalid, tc.want)
			}
		})
	}
}

func TestPipelineUpPrintsEndpointsAndStops(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var out syncBuffer
	done := make(chan int, 1)
	go func() { done <- runPipelineCmd(ctx, &out, "up", "--partitions=2") }()

	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), "Press Ctrl-C") {
		if time.Now().After(deadline) {
			t.Fatalf("no endpoints printed: %q", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	m := regexp.MustCompile(`Web API:\s+(\S+)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no API URL in %q", out.String())
	}
	resp, err := http.Get(m[1] + "/healthz")
	if err != nil {
		t.Fatalf("API not reachable at the printed URL: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("API /healthz = %d", resp.StatusCode)
	}
	if !regexp.MustCompile(`MQTT broker:\s+tcp://127\.0\.0\.1:\d+`).MatchString(out.String()) {
		t.Errorf("no loopback MQTT URL in %q", out.String())
	}

	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("exit %d after Ctrl-C: %q", code, out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("pipeline up did not stop")
	}
	if !strings.Contains(out.String(), "stopped; counters") {
		t.Errorf("no final counters in %q", out.String())
	}
}
