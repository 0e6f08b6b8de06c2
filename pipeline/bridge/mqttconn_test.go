package bridge

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// loopback returns a gatheringConn over a TCP connection and the peer's end.
func loopback(t *testing.T) (*gatheringConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer := <-accepted
	if peer == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { _ = peer.Close() })
	return newGatheringConn(c), peer
}

func TestGatheringConnKeepsBytesAndOrder(t *testing.T) {
	for _, tt := range []struct {
		name   string
		writes int
		size   int
	}{
		{"many PUBACK-sized writes", 20_000, 4},
		{"writes past the gathering bound", 50, maxGathered/3 + 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g, peer := loopback(t)
			var want bytes.Buffer
			got := make(chan []byte, 1)
			go func() {
				b, _ := io.ReadAll(peer)
				got <- b
			}()
			for i := range tt.writes {
				p := bytes.Repeat([]byte{byte(i)}, tt.size)
				want.Write(p)
				if n, err := g.Write(p); err != nil || n != len(p) {
					t.Fatalf("write %d: %d, %v", i, n, err)
				}
			}
			if err := g.Close(); err != nil { // flushes what gathered
				t.Fatal(err)
			}
			if b := <-got; !bytes.Equal(b, want.Bytes()) {
				t.Fatalf("peer read %d bytes, want %d (or the order changed)", len(b), want.Len())
			}
			if _, err := g.Write([]byte{1}); !errors.Is(err, net.ErrClosed) {
				t.Fatalf("write after Close: %v, want net.ErrClosed", err)
			}
		})
	}
}

func TestGatheringConnFailsAfterWriteError(t *testing.T) {
	g, peer := loopback(t)
	_ = peer.(*net.TCPConn).SetLinger(0)
	_ = peer.Close() // the peer resets: our writes start failing
	deadline := time.Now().Add(10 * time.Second)
	var err error
	for err == nil && time.Now().Before(deadline) {
		_, err = g.Write(make([]byte, 1024))
	}
	if err == nil {
		t.Fatal("writes to a reset connection kept succeeding")
	}
	if _, again := g.Write([]byte{1}); again == nil {
		t.Fatal("a write after the failure succeeded")
	}
	_ = g.Close()
}

func TestCheckMQTTURL(t *testing.T) {
	for _, tt := range []struct {
		url string
		ok  bool
	}{
		{"tcp://127.0.0.1:1883", true},
		{"ssl://broker:8883", true},
		{"mqtts://broker:8883", true},
		{"ws://broker:80/mqtt", false},
		{"127.0.0.1:1883", false},
		{"tcp://", false},
	} {
		if err := checkMQTTURL(tt.url); (err == nil) != tt.ok {
			t.Errorf("checkMQTTURL(%q) = %v, want ok %v", tt.url, err, tt.ok)
		}
	}
}

// stuckConn is a connection whose peer never reads: Write blocks until the
// write deadline passes.
type stuckConn struct {
	net.Conn // nil: only Write, SetWriteDeadline and Close are used
	entered  chan struct{}
	deadline chan time.Time
}

func (c *stuckConn) Write([]byte) (int, error) {
	c.entered <- struct{}{}
	<-time.After(time.Until(<-c.deadline))
	return 0, os.ErrDeadlineExceeded
}

func (c *stuckConn) SetWriteDeadline(t time.Time) error { c.deadline <- t; return nil }
func (c *stuckConn) Close() error                       { return nil }

func TestGatheringConnCloseDoesNotHangOnAStuckPeer(t *testing.T) {
	c := &stuckConn{entered: make(chan struct{}, 1), deadline: make(chan time.Time, 1)}
	g := newGatheringConn(c)
	if _, err := g.Write([]byte("puback")); err != nil {
		t.Fatal(err)
	}
	<-c.entered // the writing goroutine is inside the stuck write
	closed := make(chan error, 1)
	go func() { closed <- g.Close() }()
	select {
	case <-closed: // its error is the stuck write's; the point is that it returned
	case <-time.After(10 * closeFlushTimeout):
		t.Fatal("Close blocked behind a write the peer never takes")
	}
}
