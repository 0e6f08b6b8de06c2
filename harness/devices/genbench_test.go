package devices_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
	"github.com/shirou/gopsutil/v4/process"

	"github.com/citybench/citybench/harness"
	"github.com/citybench/citybench/pipeline/codec"
	"github.com/citybench/citybench/scenarios"
	"github.com/citybench/citybench/testcontainers/external"
)

// The generator benchmark's load: the same for every side.
const (
	genClients  = 10
	genInterval = 2500 * time.Microsecond // 400 msgs/s per client, 4,000 msgs/s in all
	genDuration = 5 * time.Second         // 20,000 messages per round
)

// Environment of a generator child process (the test binary run again).
const (
	asGenerator   = "CITYBENCH_BENCH_GENERATOR"   // side to play: one of genSides
	genBrokerURL  = "CITYBENCH_BENCH_BROKER_URL"  // the broker process's address
	genPayloadLen = "CITYBENCH_BENCH_PAYLOAD_LEN" // bytes of the bare loops' fixed payload
	// genProfileDir, when set, makes every generator child write a CPU profile
	// of itself there (<side>-<pid>.pprof; go tool pprof merges several): go test
	// -cpuprofile sees only the parent.
	genProfileDir = "CITYBENCH_BENCH_CPUPROFILE_DIR"
)

// The sides of BenchmarkGenerator.
const (
	sideBare      = "bare"      // paho publish loop: send and ack timestamps per message
	sideBareSub   = "bare-sub"  // the same plus one paho subscriber on '#' stamping each arrival
	sideCitybench = "citybench" // harness.Run on the external target: devices, ledger, broker tap, result
	// sideLean is the bare loop on paho's packet encoding without paho's client:
	// each client's goroutine writes its PUBLISH to the socket itself, one reader
	// goroutine per connection takes the PUBACKs. What a leaner publisher could save.
	sideLean = "lean"
	// sideLeanSub is sideLean plus a subscriber on '#' built the same way: what a
	// generator whose devices and broker tap both skipped paho's client could reach.
	sideLeanSub = "lean-sub"
	// sideIdle starts the test binary and exits: its CPU, the process start every
	// side pays, is subtracted from each side's.
	sideIdle = "idle"
)

var genSides = []string{sideBare, sideBareSub, sideCitybench, sideLean, sideLeanSub}

// genOutcome is what a generator child prints on its last line.
type genOutcome struct {
	Acked    int64 `json:"acked"`    // QoS 1 publishes acknowledged by the broker
	Received int64 `json:"received"` // messages its subscriber (tap) saw; 0 without one
	// LagP99Us is citybench's generator lag p99 (the bare loops do not measure it).
	LagP99Us  float64 `json:"lag_p99_us"`
	Saturated bool    `json:"saturated"`
}

// BenchmarkGenerator compares citybench's generator, as a user runs it (devices,
// ledger and broker tap, up to the result), with bare publish loops written
// directly on paho: same broker, QoS 1, genClients clients, the same rate and
// payload size. Every side runs in its own process against a broker in a third,
// and its CPU is that process's whole CPU time (user + system, from wait4), so
// neither the broker's work nor the other side's counts. Each iteration plays
// every side once, in rotating order, so a busy machine slows all alike; the
// figures are CPU µs per acknowledged message and their ratios.
func BenchmarkGenerator(b *testing.B) {
	brk := startBroker(b)
	payloadLen, err := citybenchPayloadLen()
	if err != nil {
		b.Fatal(err)
	}
	cpu := map[string]time.Duration{}
	brokerCPU := map[string]time.Duration{}
	msgs := map[string]int64{}
	var lagP99 float64
	var startup time.Duration
	rounds := 0
	for i := 0; b.Loop(); i++ {
		idle, _ := runGenerator(b, sideIdle, brk.url, payloadLen)
		startup += idle
		rounds++
		for k := range genSides {
			side := genSides[(i+k)%len(genSides)]
			before := brk.cpu(b)
			used, out := runGenerator(b, side, brk.url, payloadLen)
			brokerCPU[side] += brk.cpu(b) - before
			if out.Acked == 0 {
				b.Fatalf("%s: no message acknowledged", side)
			}
			if side != sideBare && side != sideLean && out.Received < out.Acked {
				b.Fatalf("%s: its subscriber saw %d of %d acknowledged messages", side, out.Received, out.Acked)
			}
			if out.Saturated {
				b.Logf("%s: generator flagged saturated (lag p99 %.0f µs): the box is too busy for this rate", side, out.LagP99Us)
			}
			lagP99 = max(lagP99, out.LagP99Us)
			cpu[side] += used - idle
			msgs[side] += out.Acked
		}
	}
	perMsg := func(m map[string]time.Duration, side string) float64 {
		return float64(m[side].Microseconds()) / float64(msgs[side])
	}
	for _, side := range genSides {
		b.ReportMetric(perMsg(cpu, side), side+"-cpu-µs/msg")
	}
	b.ReportMetric(perMsg(cpu, sideCitybench)/perMsg(cpu, sideBare), "x-bare")
	b.ReportMetric(perMsg(cpu, sideCitybench)/perMsg(cpu, sideBareSub), "x-bare-sub")
	b.ReportMetric(perMsg(cpu, sideLean)/perMsg(cpu, sideBare), "lean-x-bare")
	b.ReportMetric(perMsg(cpu, sideLeanSub)/perMsg(cpu, sideBare), "lean-sub-x-bare")
	b.ReportMetric(float64(startup.Microseconds())/1000/float64(rounds), "startup-cpu-ms")
	b.ReportMetric(perMsg(brokerCPU, sideCitybench)/perMsg(brokerCPU, sideBare), "broker-x-bare")
	b.ReportMetric(lagP99/1000, "citybench-lag-p99-ms")
	for _, side := range genSides {
		b.Logf("%s: broker CPU %.1f µs/msg", side, perMsg(brokerCPU, side))
	}
	b.Logf("payload %d B, %d rounds", payloadLen, rounds)
}

// brokerProcess is the broker child and a handle on its CPU time.
type brokerProcess struct {
	url  string
	proc *process.Process
}

func startBroker(b *testing.B) brokerProcess {
	url, pid := startBrokerProcess(b)
	p, err := process.NewProcess(int32(pid))
	if err != nil {
		b.Fatalf("broker process stats: %v", err)
	}
	return brokerProcess{url: url, proc: p}
}

func (p brokerProcess) cpu(b *testing.B) time.Duration {
	t, err := p.proc.Times()
	if err != nil {
		b.Fatalf("broker CPU: %v", err)
	}
	return time.Duration((t.User + t.System) * float64(time.Second))
}

// runGenerator plays one side in a child process and returns the child's CPU
// time and outcome.
func runGenerator(b *testing.B, side, url string, payloadLen int) (time.Duration, genOutcome) {
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), asGenerator+"="+side, genBrokerURL+"="+url, fmt.Sprintf("%s=%d", genPayloadLen, payloadLen))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("%s generator: %v", side, err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var o genOutcome
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &o); err != nil {
		b.Fatalf("%s generator output %q: %v", side, out, err)
	}
	return cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), o
}

// benchScenario is what the citybench side runs; the bare loops match its
// device count, QoS, interval and duration.
func benchScenario() (*scenarios.Scenario, error) {
	return scenarios.Parse("generator-bench.yaml", []byte(fmt.Sprintf(`
name: generator-bench
seed: 1
duration: %s
drain: 30s
fleets:
  - name: meter
    devices: %d
    model: bench-meter
    topic: city/{device}
    codec: json
    qos: 1
    sensors:
      - {metric: kwh, mean: 3, stddev: 1}
    arrival: {kind: fixed, interval: %s}
target:
  kind: external
`, genDuration, genClients, genInterval)))
}

// citybenchPayloadLen is the size of the citybench side's first payload, so the
// bare loops put as many bytes on the wire.
func citybenchPayloadLen() (int, error) {
	cd, err := codec.ByName("json")
	if err != nil {
		return 0, err
	}
	p, err := cd.Encode(codec.Reading{DeviceID: "meter-00001", Seq: 1000, SampleTimeNs: time.Now().UnixNano(), Model: "bench-meter",
		Metrics: map[string]float64{"kwh": 3.1415926535}})
	return len(p), err
}

// serveGenerator is a generator child's main: it plays its side and prints
// its outcome as JSON.
func serveGenerator(side string) int {
	if dir := os.Getenv(genProfileDir); dir != "" {
		f, err := os.Create(fmt.Sprintf("%s/%s-%d.pprof", dir, side, os.Getpid()))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	ctx, cancel := context.WithTimeout(context.Background(), genDuration+time.Minute)
	defer cancel()
	url := os.Getenv(genBrokerURL)
	var o genOutcome
	var err error
	switch side {
	case sideCitybench:
		o, err = runCitybench(ctx, url)
	case sideIdle:
	case sideLean, sideLeanSub:
		var n int
		if _, err = fmt.Sscan(os.Getenv(genPayloadLen), &n); err == nil {
			o, err = runLean(ctx, url, n, side == sideLeanSub)
		}
	case sideBare, sideBareSub:
		var n int
		if _, err = fmt.Sscan(os.Getenv(genPayloadLen), &n); err == nil {
			o, err = runBare(ctx, url, n, side == sideBareSub)
		}
	default:
		err = fmt.Errorf("unknown side %q", side)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", side, err)
		return 1
	}
	line, _ := json.Marshal(o)
	fmt.Println(string(line))
	return 0
}

// runCitybench is a user's run on an external broker, short of writing the
// report files (rendering is a separate step that reads result.json).
func runCitybench(ctx context.Context, url string) (genOutcome, error) {
	sc, err := benchScenario()
	if err != nil {
		return genOutcome{}, err
	}
	quiet := slog.New(slog.DiscardHandler)
	tgt := external.New(external.Config{MQTTURLs: []string{url}}, external.WithLogger(quiet))
	res, err := harness.Run(ctx, sc, harness.Options{Target: tgt, Logger: quiet})
	if err != nil {
		return genOutcome{}, err
	}
	var o genOutcome
	for _, st := range res.Stages {
		switch st.Stage {
		case "acked":
			o.Acked = st.Delivery.Delivered
		case "broker":
			o.Received = st.Delivery.Delivered
		}
	}
	o.LagP99Us = float64(res.GeneratorLag.P99Us)
	for _, f := range res.Flags {
		o.Saturated = o.Saturated || f == "generator_saturated"
	}
	return o, nil
}

// runBare is the loop a user writes on paho to load a broker: genClients
// clients, each publishing a fixed payload at QoS 1 on the benchmark's clock,
// keeping each message's send time and ack time in preallocated slices (an
// ack goroutine per client waits for the tokens in order), so latencies could
// be computed afterwards. With subscribe, one more client receives everything
// on '#' and keeps each arrival's time: the bare counterpart of a broker tap.
func runBare(ctx context.Context, url string, payloadLen int, subscribe bool) (genOutcome, error) {
	payload := []byte(strings.Repeat("x", payloadLen))
	perClient := int(genDuration / genInterval)
	var o genOutcome
	var received atomic.Int64
	arrivals := make([]int64, genClients*perClient)
	all := make(chan struct{}) // closed when every message arrived
	if subscribe {
		sub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID("bare-sub").SetOrderMatters(true))
		if t := sub.Connect(); !t.WaitTimeout(10*time.Second) || t.Error() != nil {
			return o, fmt.Errorf("subscriber connect: %v", t.Error())
		}
		defer sub.Disconnect(250)
		t := sub.Subscribe("#", 1, func(_ mqtt.Client, _ mqtt.Message) {
			if n := received.Add(1); n <= int64(len(arrivals)) {
				arrivals[n-1] = time.Now().UnixNano()
				if n == int64(len(arrivals)) {
					close(all)
				}
			}
		})
		if !t.WaitTimeout(10*time.Second) || t.Error() != nil {
			return o, fmt.Errorf("subscribe: %v", t.Error())
		}
	}
	clients := make([]mqtt.Client, genClients)
	for i := range clients {
		clients[i] = mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID(fmt.Sprintf("bare-%02d", i)))
		if t := clients[i].Connect(); !t.WaitTimeout(10*time.Second) || t.Error() != nil {
			return o, fmt.Errorf("client %d connect: %v", i, t.Error())
		}
		defer clients[i].Disconnect(250)
	}
	o.Acked = playClients(func(i int, first time.Time) int64 {
		return bareClient(ctx, clients[i], fmt.Sprintf("bare/%02d", i), payload, first, perClient)
	})
	if subscribe {
		awaitAll(ctx, all)
		o.Received = received.Load()
	}
	return o, nil
}

// bareClient publishes n messages, the k-th at first + k·genInterval, and
// returns how many were acknowledged.
func bareClient(ctx context.Context, c mqtt.Client, topic string, payload []byte, first time.Time, n int) int64 {
	sent := make([]int64, n)
	acked := make([]int64, n)
	tokens := make(chan mqtt.Token, 1024)
	done := make(chan int64)
	go func() {
		var ok int64
		k := 0
		for t := range tokens {
			if t.Wait() && t.Error() == nil {
				acked[k] = time.Now().UnixNano()
				ok++
			}
			k++
		}
		done <- ok
	}()
	pace(ctx, first, n, func(k int) bool {
		sent[k] = time.Now().UnixNano()
		tokens <- c.Publish(topic, 1, false, payload)
		return true
	})
	close(tokens)
	return <-done
}

// runLean is runBare's publish loop without paho's client: CONNECT, then
// PUBLISH packets encoded by paho's packets package and written by the
// publishing goroutine, PUBACKs read by one goroutine per connection.
func runLean(ctx context.Context, url string, payloadLen int, subscribe bool) (genOutcome, error) {
	payload := []byte(strings.Repeat("x", payloadLen))
	perClient := int(genDuration / genInterval)
	addr := strings.TrimPrefix(url, "tcp://")
	var o genOutcome
	received := func() {} // waits for the subscriber's last message, if there is one
	if subscribe {
		sub, err := leanSubscribe(ctx, addr)
		if err != nil {
			return o, err
		}
		defer sub.Close()
		arrivals := make([]int64, genClients*perClient)
		all := make(chan struct{})
		go func() {
			o.Received = leanReceive(sub, arrivals)
			close(all)
		}()
		received = func() {
			awaitAll(ctx, all)
			sub.Close() // ends leanReceive if messages are missing
			<-all
		}
	}
	conns := make([]net.Conn, genClients)
	for i := range conns {
		c, err := leanConnect(ctx, addr, fmt.Sprintf("lean-%02d", i))
		if err != nil {
			return genOutcome{}, err
		}
		defer c.Close()
		conns[i] = c
	}
	o.Acked = playClients(func(i int, first time.Time) int64 {
		return leanClient(ctx, conns[i], fmt.Sprintf("lean/%02d", i), payload, first, perClient)
	})
	received()
	return o, nil
}

// awaitAll waits until all is closed, at most subscriberGrace (or ctx ends).
func awaitAll(ctx context.Context, all <-chan struct{}) {
	grace := time.NewTimer(subscriberGrace)
	defer grace.Stop()
	select {
	case <-all:
	case <-grace.C:
	case <-ctx.Done():
	}
}

// subscriberGrace bounds a bare subscriber's wait for the last messages.
const subscriberGrace = 10 * time.Second

// leanSubscribe connects and subscribes to '#' at QoS 1 with paho's packets.
func leanSubscribe(ctx context.Context, addr string) (net.Conn, error) {
	c, err := leanConnect(ctx, addr, "lean-sub")
	if err != nil {
		return nil, err
	}
	sp := packets.NewControlPacket(packets.Subscribe).(*packets.SubscribePacket)
	sp.MessageID, sp.Topics, sp.Qoss = 1, []string{"#"}, []byte{1}
	if err := sp.Write(c); err != nil {
		c.Close()
		return nil, err
	}
	p, err := packets.ReadPacket(c)
	if sa, ok := p.(*packets.SubackPacket); err != nil || !ok || len(sa.ReturnCodes) != 1 || sa.ReturnCodes[0] > 2 {
		c.Close()
		return nil, fmt.Errorf("lean subscribe: %v %v", p, err)
	}
	return c, nil
}

// leanReceive stamps the arrival of each PUBLISH and acknowledges it, until
// len(arrivals) arrived or the connection closes; it returns how many arrived.
func leanReceive(c net.Conn, arrivals []int64) int64 {
	r := bufio.NewReader(c)
	ack := packets.NewControlPacket(packets.Puback).(*packets.PubackPacket)
	n := 0
	for n < len(arrivals) {
		p, err := packets.ReadPacket(r)
		if err != nil {
			break
		}
		if pub, ok := p.(*packets.PublishPacket); ok {
			arrivals[n] = time.Now().UnixNano()
			n++
			if pub.Qos > 0 {
				ack.MessageID = pub.MessageID
				if ack.Write(c) != nil {
					break
				}
			}
		}
	}
	return int64(n)
}

func leanConnect(ctx context.Context, addr, id string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	cp := packets.NewControlPacket(packets.Connect).(*packets.ConnectPacket)
	cp.ProtocolName, cp.ProtocolVersion, cp.CleanSession, cp.ClientIdentifier, cp.Keepalive = "MQTT", 4, true, id, 60
	if err := cp.Write(c); err != nil {
		c.Close()
		return nil, err
	}
	p, err := packets.ReadPacket(c)
	if ca, ok := p.(*packets.ConnackPacket); err != nil || !ok || ca.ReturnCode != 0 {
		c.Close()
		return nil, fmt.Errorf("lean connect %s: %v %v", id, p, err)
	}
	return c, nil
}

// leanClient publishes n messages, the k-th at first + k·genInterval, keeping
// send and ack times, and returns how many were acknowledged.
func leanClient(ctx context.Context, c net.Conn, topic string, payload []byte, first time.Time, n int) int64 {
	sent := make([]int64, n)
	acked := make([]int64, n)
	done := make(chan int64)
	go func() {
		var ok int64
		r := bufio.NewReader(c)
		for ok < int64(n) {
			p, err := packets.ReadPacket(r)
			if err != nil {
				break
			}
			if pa, isAck := p.(*packets.PubackPacket); isAck {
				acked[int(pa.MessageID)-1] = time.Now().UnixNano()
				ok++
			}
		}
		done <- ok
	}()
	pp := packets.NewControlPacket(packets.Publish).(*packets.PublishPacket)
	pp.Qos, pp.TopicName, pp.Payload = 1, topic, payload
	pace(ctx, first, n, func(k int) bool {
		sent[k] = time.Now().UnixNano()
		pp.MessageID = uint16(k + 1) // n < 65536: ids are never reused within a round
		return pp.Write(c) == nil
	})
	select {
	case ok := <-done:
		return ok
	case <-ctx.Done():
		c.Close() // ends the reader
		return <-done
	}
}

// playClients runs play for each of genClients clients at once, client i's
// first message a fraction i/genClients of an interval after a common start,
// and sums what they return (messages acknowledged).
func playClients(play func(i int, first time.Time) int64) int64 {
	start := time.Now().Add(100 * time.Millisecond)
	var acked atomic.Int64
	var wg sync.WaitGroup
	for i := range genClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			acked.Add(play(i, start.Add(genInterval*time.Duration(i)/genClients)))
		}()
	}
	wg.Wait()
	return acked.Load()
}

// pace calls send for k = 0 … n-1 at first + k·genInterval (at once when late),
// until send fails or ctx ends.
func pace(ctx context.Context, first time.Time, n int, send func(k int) bool) {
	for k := range n {
		if d := time.Until(first.Add(genInterval * time.Duration(k))); d > 0 {
			time.Sleep(d)
		}
		if ctx.Err() != nil || !send(k) {
			return
		}
	}
}
