package devices_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"

	"github.com/citybench/citybench/harness/devices"
	"github.com/citybench/citybench/harness/ledger"
	"github.com/citybench/citybench/harness/schedule"
	"github.com/citybench/citybench/scenarios"
)

// asBroker makes the test binary a bare MQTT broker in its own process, so the
// benchmark measures the harness's side of each connection only.
const asBroker = "CITYBENCH_BENCH_BROKER"

func TestMain(m *testing.M) {
	if os.Getenv(asBroker) == "1" {
		os.Exit(serveBroker())
	}
	if side := os.Getenv(asGenerator); side != "" {
		os.Exit(serveGenerator(side))
	}
	os.Exit(m.Run())
}

// serveBroker prints its address and serves until its standard input closes.
func serveBroker() int {
	caps := mochi.NewDefaultServerCapabilities()
	caps.MaximumInflight = 65535
	b := mochi.New(&mochi.Options{Capabilities: caps, Logger: slog.New(slog.DiscardHandler)})
	if err := b.AddHook(new(auth.AllowHook), nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ln := listeners.NewTCP(listeners.Config{ID: "tcp", Address: "127.0.0.1:0"})
	if err := b.AddListener(ln); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := b.Serve(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("tcp://" + ln.Address())
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	_ = b.Close()
	return 0
}

// startBrokerProcess starts the broker process and returns its address and pid.
func startBrokerProcess(b *testing.B) (string, int) {
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), asBroker+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close()
		_ = cmd.Wait()
	})
	url, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatalf("broker process: %v", err)
	}
	return strings.TrimSpace(url), cmd.Process.Pid
}

// maxBenchDevices keeps the benchmark inside one process's open-file limit
// whatever b.N the framework picks.
const maxBenchDevices = 10000

// BenchmarkConnectedDevice connects b.N devices (at most maxBenchDevices; run it
// with -benchtime 5000x) to a broker in another process and reports what one
// connected device costs the harness: heap and stacks, resident memory,
// goroutines and connect time.
func BenchmarkConnectedDevice(b *testing.B) {
	devs := min(b.N, maxBenchDevices)
	url := startBroker(b).url
	sc, err := scenarios.Parse("bench.yaml", []byte(fmt.Sprintf(`
name: bench
seed: 1
duration: 20s
fleets:
  - name: meter
    devices: %d
    model: m
    topic: city/{device}
    codec: json
    qos: 1
    sensors:
      - {metric: kwh, mean: 3, stddev: 1}
    arrival: {kind: fixed, interval: 10s}
`, devs)))
	if err != nil {
		b.Fatal(err)
	}
	plan, err := schedule.Build(sc)
	if err != nil {
		b.Fatal(err)
	}
	led := ledger.New(plan)
	sim, err := devices.New(devices.Broker{URLs: []string{url}}, led, devices.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	heap0, rss0, g0 := memory()
	b.ResetTimer()
	start := time.Now()
	if err := sim.Connect(ctx); err != nil {
		b.Fatal(err)
	}
	took := time.Since(start)
	b.StopTimer()
	heap1, rss1, g1 := memory()
	n := float64(devs)
	b.ReportMetric(float64(heap1-heap0)/n, "heap+stack-B/device")
	b.ReportMetric(float64(rss1-rss0)/n, "rss-B/device")
	b.ReportMetric(float64(g1-g0)/n, "goroutines/device")
	b.ReportMetric(float64(took.Microseconds())/n, "connect-µs/device")
	if got := sim.Connections(); got != int64(devs) {
		b.Fatalf("%d of %d devices connected", got, devs)
	}
	sim.Disconnect(0)
}

// memory is the live heap plus goroutine stacks after a GC, the resident set,
// and the number of goroutines.
func memory() (heap, rss int64, goroutines int) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 1 {
			pages, _ := strconv.ParseInt(f[1], 10, 64)
			rss = pages * int64(os.Getpagesize())
		}
	}
	return int64(ms.HeapAlloc + ms.StackInuse), rss, runtime.NumGoroutine()
}
