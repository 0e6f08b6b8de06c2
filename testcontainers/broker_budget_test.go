//go:build containers

package testcontainers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.mqtt.golang/packets"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/citybench/citybench/harness/limits"
	"github.com/citybench/citybench/scenarios"
)

// BenchmarkMosquittoConnections measures how many device connections one
// Mosquitto container holds on this machine: b.N bare MQTT connections (CONNECT,
// CONNACK, then idle), 64 in flight, spread over loopback source addresses as
// the harness spreads devices — through the loopback port mapping the harness
// uses for small runs, and to the container's own address on the engine's
// network. It is the measurement behind BrokerDevices and MappedBrokerDevices:
//
//	go test -tags containers -run '^$' -bench MosquittoConnections -benchtime 19500x ./testcontainers/
func BenchmarkMosquittoConnections(b *testing.B) {
	for _, direct := range []bool{false, true} {
		name := "port-mapping"
		if direct {
			name = "container-address"
		}
		b.Run(name, func(b *testing.B) { benchConnections(b, direct) })
	}
}

func benchConnections(b *testing.B, direct bool) {
	tg := NewTarget(scenarios.Target{Kind: "containers"}, WithLogger(testLogger(b)), withTestLabel())
	tg.cfg.brokerOnly = true
	ep := startTarget(b, tg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	m, dc, err := tg.container("mqtt")
	if err != nil {
		b.Fatal(err)
	}
	hostport := strings.TrimPrefix(ep.MQTTURLs[0], "tcp://")
	if direct {
		ip, err := m.c.ContainerIP(ctx)
		if err != nil {
			b.Fatal(err)
		}
		hostport = net.JoinHostPort(ip, "1883")
	}
	memBefore := containerMemory(ctx, b, dc, m.c.GetContainerID())
	machine, err := limits.Read()
	if err != nil {
		b.Fatal(err)
	}
	addrs := machine.SourceAddrs(b.N)

	var (
		mu       sync.Mutex
		conns    []net.Conn
		failures atomic.Int64
		firstErr error
		next     atomic.Int64
		wg       sync.WaitGroup
	)
	b.ResetTimer()
	began := time.Now()
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N || ctx.Err() != nil {
					return
				}
				src := limits.SourceAddr(i, addrs)
				if direct {
					src = nil // the kernel picks the address on the engine's network
				}
				c, err := bareConnect(ctx, hostport, src, fmt.Sprintf("budget-%06d", i))
				mu.Lock()
				if err != nil {
					failures.Add(1)
					if firstErr == nil {
						firstErr = fmt.Errorf("connection %d: %w", i, err)
					}
				} else {
					conns = append(conns, c)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	took := time.Since(began)
	b.StopTimer()
	memAfter := containerMemory(ctx, b, dc, m.c.GetContainerID())
	connected := len(conns)
	for _, c := range conns {
		c.Close()
	}
	b.ReportMetric(float64(connected), "connected")
	b.ReportMetric(float64(failures.Load()), "failed")
	if connected > 0 {
		b.ReportMetric(float64(memAfter-memBefore)/1024/float64(connected), "broker-KiB/conn")
		b.ReportMetric(float64(took.Microseconds())/float64(connected), "µs/connect")
	}
	if firstErr != nil {
		b.Logf("first failure: %v", firstErr)
	}
}

// bareConnect opens one MQTT 3.1.1 connection from source address src and waits
// for the broker's CONNACK; the connection then stays idle (no keep-alive).
func bareConnect(ctx context.Context, hostport string, src net.IP, id string) (net.Conn, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	if src != nil {
		d.LocalAddr = &net.TCPAddr{IP: src}
	}
	c, err := d.DialContext(ctx, "tcp", hostport)
	if err != nil {
		return nil, err
	}
	cp := packets.NewControlPacket(packets.Connect).(*packets.ConnectPacket)
	cp.ProtocolName, cp.ProtocolVersion, cp.CleanSession, cp.ClientIdentifier = "MQTT", 4, true, id
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := cp.Write(c); err != nil {
		c.Close()
		return nil, fmt.Errorf("send CONNECT: %w", err)
	}
	p, err := packets.ReadPacket(c)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("read CONNACK: %w", err)
	}
	ack, ok := p.(*packets.ConnackPacket)
	if !ok || ack.ReturnCode != packets.Accepted {
		c.Close()
		return nil, errors.New("CONNECT refused: " + p.String())
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

func containerMemory(ctx context.Context, b *testing.B, dc *client.Client, id string) int64 {
	res, err := dc.ContainerStats(ctx, id, client.ContainerStatsOptions{Stream: false})
	if err != nil {
		b.Fatalf("stats: %v", err)
	}
	defer res.Body.Close()
	var s container.StatsResponse
	if err := json.NewDecoder(res.Body).Decode(&s); err != nil {
		b.Fatalf("stats: %v", err)
	}
	return int64(memoryUsed(s.MemoryStats))
}
