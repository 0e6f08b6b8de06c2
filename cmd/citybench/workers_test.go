package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/citybench/citybench/harness/merge"
	"github.com/citybench/citybench/pipeline/codec"
	"github.com/citybench/citybench/pipeline/embedded"
	"github.com/citybench/citybench/pipeline/service"
	"github.com/citybench/citybench/reports/result"
	"github.com/citybench/citybench/testcontainers/external"
)

// beCitybench makes this test binary act as citybench when the coordinator
// starts it as a worker (it runs os.Executable()).
const beCitybench = "CITYBENCH_TEST_AS_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(beCitybench) == "1" {
		os.Exit(execute(os.Args[1:]))
	}
	os.Exit(m.Run())
}

const workersScenario = `
name: wk
seed: 5
warmup: 2s
duration: 6s
drain: 20s
api_sample: 0.02
slos: ["kafka.loss == 0"]
fleets:
  - name: meter
    devices: 150
    model: m
    topic: city/{district}/{device}
    locations: {district: [n, s, e]}
    codec: json
    qos: 1
    sensors:
      - {metric: kwh, mean: 3, stddev: 1}
    arrival: {kind: fixed, interval: 1s, jitter: 50ms}
  - name: lamp
    devices: 31
    model: streetlight-v2
    topic: lights/{street}/{device}
    locations: {street: [high, mill]}
    codec: json
    qos: 2
    sensors:
      - {metric: lux, mean: 400, stddev: 30, min: 0}
      - {metric: watts, mean: 60, stddev: 4}
    arrival: {kind: poisson, interval: 900ms}
`

// runResult runs citybench with args (after "run PATH --no-report -q --out DIR")
// and loads the result it wrote.
func runResult(t *testing.T, dir, path string, args ...string) *result.Result {
	t.Helper()
	out := filepath.Join(dir, strings.Join(append([]string{"run"}, args...), "-"))
	msg, code := runCmd(newRootCmd(), append([]string{"run", path, "--no-report", "-q", "--out", out}, args...)...)
	if code != exitOK {
		t.Fatalf("run %v: exit %d: %s", args, code, msg)
	}
	r, err := result.Load(filepath.Join(out, "result.json"))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func writeScenario(t *testing.T) (dir, path string) {
	t.Helper()
	dir = t.TempDir()
	path = filepath.Join(dir, "wk.yaml")
	if err := os.WriteFile(path, []byte(workersScenario), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, path
}

// sameAccounting wants, at every stage, the same counts in both results.
func sameAccounting(t *testing.T, one, many *result.Result, workers int) {
	t.Helper()
	if many.Meta.Segments != workers || len(many.Workers) != workers {
		t.Fatalf("workers result: %d segments, %d workers; want %d", many.Meta.Segments, len(many.Workers), workers)
	}
	for _, m := range merge.Mismatches(one, many) {
		t.Errorf("one process and %d workers differ: %s", workers, m)
	}
	for _, s := range many.Stages {
		if s.Delivery.Expected == 0 {
			t.Errorf("stage %s expected nothing", s.Stage)
		}
		t.Logf("stage %s: expected %d delivered %d lost %d dup %d", s.Stage, s.Delivery.Expected, s.Delivery.Delivered, s.Delivery.Lost, s.Delivery.Duplicated)
	}
	for _, wk := range many.Workers {
		if wk.GeneratorLag.Count == 0 {
			t.Errorf("worker %s has no generator lag figures", wk.Segment)
		}
	}
}

// TestWorkersMatchOneProcess runs one scenario against one pipeline (the
// embedded pipeline standing in for the user's, reached as the external target)
// once in this process and once as three worker processes, and wants the same
// accounting at every stage and one merged result with each worker's lag.
func TestWorkersMatchOneProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("two 8 s end-to-end runs; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p, err := embedded.Start(ctx, embedded.WithCodec(codec.JSON()))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.WithoutCancel(ctx))
	t.Setenv(service.EnvMQTTURL, p.MQTTURL)
	t.Setenv(service.EnvKafkaBrokers, strings.Join(p.KafkaBrokers, ","))
	t.Setenv(external.EnvAPIURL, p.APIURL)
	t.Setenv(beCitybench, "1")
	dir, path := writeScenario(t)
	sameAccounting(t, runResult(t, dir, path, "--target", "external"), runResult(t, dir, path, "--target", "external", "--workers", "3"), 3)
}

// TestEmbeddedWorkers runs the embedded target with its devices in two worker
// processes — the pipeline and the store read-back stay in the coordinator — and
// wants the accounting of an all-in-one-process run, the store stage included.
func TestEmbeddedWorkers(t *testing.T) {
	if testing.Short() {
		t.Skip("two 8 s end-to-end runs; skipped with -short")
	}
	t.Setenv(beCitybench, "1")
	dir, path := writeScenario(t)
	many := runResult(t, dir, path, "--workers", "2")
	sameAccounting(t, runResult(t, dir, path), many, 2)
	if many.Stage(result.StageStore) == nil || !many.HasFlag(result.FlagEmbedded) {
		t.Fatalf("embedded workers: store stage %v, flags %v", many.Stage(result.StageStore), many.Flags)
	}
}

// TestBrokerTierRefusals: run and validate exit 2, naming file, line and field,
// for a pinned broker tier too small for its devices and for a broker fault on
// a tier; nothing is started.
func TestBrokerTierRefusals(t *testing.T) {
	dir := t.TempDir()
	city, err := os.ReadFile("../../scenarios/city-districts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	small := filepath.Join(dir, "small-tier.yaml")
	if err := os.WriteFile(small, []byte(strings.Replace(string(city), "devices: 300", "devices: 30000", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	faulted := filepath.Join(dir, "tier-fault.yaml")
	fault := "faults:\n  - {at: 5s, action: restart, target: broker}\n"
	if err := os.WriteFile(faulted, append(city, fault...), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"run, pinned tier too small", []string{"run", small, "--no-report", "-q", "--out", filepath.Join(dir, "out")},
			"small-tier.yaml:38: target.brokers: 30100 devices over 2 brokers is 15050 each, but one broker here takes 12000"},
		{"validate, pinned tier too small", []string{"validate", small}, "target.brokers: 30100 devices over 2 brokers"},
		{"validate, broker fault on a tier", []string{"validate", faulted},
			"broker faults act on the one broker of a single-broker topology, but this one has 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			root := newRootCmd()
			root.SetOut(&out)
			root.SetErr(&out)
			root.SetArgs(tt.args)
			err := root.Execute()
			if err == nil || exitCode(err) != exitInvalid || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v (exit %d), want exit %d with %q", err, exitCode(err), exitInvalid, tt.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "out")); !os.IsNotExist(err) {
		t.Errorf("a refused run left its output folder (%v)", err)
	}
}
