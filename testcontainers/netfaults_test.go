package testcontainers

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/citybench/citybench/scenarios"
)

// echo serves one line back per line on loopback until the test ends.
func echo(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if _, err := c.Write([]byte(line)); err != nil {
						return
					}
				}
			}()
		}
	}()
	return l.Addr().String()
}

// roundTrip sends a line through conn and waits up to wait for the echo.
func roundTrip(t *testing.T, conn net.Conn, r *bufio.Reader, wait time.Duration) (time.Duration, bool) {
	t.Helper()
	began := time.Now()
	if _, err := conn.Write([]byte("ping\n")); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	_, err := r.ReadString('\n')
	return time.Since(began), err == nil
}

// TestToxics drives the toxics a scenario's network faults become through a real
// in-process Toxiproxy: latency delays each round trip by at least its amount, a
// partition lets nothing through, and healing restores the link on the same
// connection.
func TestToxics(t *testing.T) {
	px := newProxies("127.0.0.1")
	defer px.close()
	addr, err := px.reserve("kafka-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := px.add("kafka-1", echo(t)); err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	if _, ok := roundTrip(t, conn, r, 2*time.Second); !ok {
		t.Fatal("no echo through the healthy proxy")
	}
	p := px.byName["kafka-1"]
	apply := func(f scenarios.Fault) {
		for _, spec := range toxics(f) {
			if _, err := p.Toxics.AddToxicJson(strings.NewReader(spec)); err != nil {
				t.Fatalf("toxic %s: %v", spec, err)
			}
		}
	}
	apply(scenarios.Fault{Action: scenarios.ActionLatency, Latency: scenarios.Duration(150 * time.Millisecond)})
	if rtt, ok := roundTrip(t, conn, r, 2*time.Second); !ok || rtt < 150*time.Millisecond {
		t.Errorf("with 150ms latency: round trip %s (ok %v)", rtt, ok)
	}
	p.Toxics.ResetToxics(context.Background())
	apply(scenarios.Fault{Action: scenarios.ActionPartition})
	if _, ok := roundTrip(t, conn, r, 500*time.Millisecond); ok {
		t.Error("an echo crossed the partition")
	}
	p.Toxics.ResetToxics(context.Background())
	// The line held by the partition arrives once healed, then traffic flows again.
	if _, ok := roundTrip(t, conn, r, 2*time.Second); !ok {
		t.Error("no echo after the partition healed")
	}
}
