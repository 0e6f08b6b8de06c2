// Package target is the narrow interface between the harness and a system under
// test: bring a pipeline up (or attach to one), hand back its public endpoints,
// and tear it down. Embedded, containers and external targets implement it.
package target

import (
	"context"
	"crypto/tls"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/citybench/citybench/pipeline/kafkasec"
	"github.com/citybench/citybench/pipeline/store"
	"github.com/citybench/citybench/reports/result"
	"github.com/citybench/citybench/scenarios"
)

// Endpoints are the public faces of a running pipeline; the harness touches
// nothing else.
type Endpoints struct {
	// MQTTURLs are broker addresses devices connect to, e.g. "tcp://127.0.0.1:1883",
	// "ssl://127.0.0.1:8883". Devices are spread over them.
	MQTTURLs     []string
	MQTTUsername string
	MQTTPassword string
	// TLS, when set, is the client TLS config devices and taps use (client
	// certificates included).
	TLS *tls.Config
	// KafkaBrokers are bootstrap addresses; KafkaTopic is where the bridge writes readings.
	KafkaBrokers []string
	KafkaTopic   string
	// KafkaDeadLetterTopic is where the pipeline puts payloads it refuses, each
	// with a reason header ("": unknown — malformed messages are then unverified).
	KafkaDeadLetterTopic string
	// KafkaSecurity is how the harness's Kafka clients encrypt and authenticate
	// (zero: plaintext, anonymous).
	KafkaSecurity kafkasec.Config
	// Store reads back what the sink wrote, with write times (the store stage's ground truth).
	Store store.Store
	// APIURL is the web API's base URL, e.g. "http://127.0.0.1:8080".
	APIURL string
}

// KafkaDialer is the one kafka-go Dialer every harness Kafka client uses, built
// from KafkaSecurity.
func (e Endpoints) KafkaDialer() (*kafka.Dialer, error) {
	d, err := e.KafkaSecurity.Dialer(10 * time.Second)
	if err != nil {
		return nil, fmt.Errorf("kafka endpoint: %w", err)
	}
	return d, nil
}

// Target is one way of providing a pipeline.
type Target interface {
	// Start brings the pipeline up (or checks the external one is reachable) and
	// returns its endpoints. It must honour ctx.
	Start(ctx context.Context) (Endpoints, error)
	// Describe says what runs, for the result's metadata.
	Describe() result.Target
	// Components lists component → version or image.
	Components() map[string]string
	// Counters returns the target's own counters (e.g. broker_inflight_dropped,
	// dead_lettered) at the end of a run.
	Counters(ctx context.Context) map[string]int64
	// Stop tears everything down; it is safe to call after a failed Start.
	Stop(ctx context.Context) error
}

// Staller is implemented by targets that can make their store stall, for fault and
// coordinated-omission tests.
type Staller interface {
	StallStore(ctx context.Context, d time.Duration) error
}

// ResourceSampler is implemented by targets that can measure their components'
// CPU and memory (the containers target, through the Docker stats API). Samples
// arrive about once a second per component until ctx ends; AtS is seconds since
// origin.
type ResourceSampler interface {
	SampleResources(ctx context.Context, origin time.Time) (<-chan result.ResourceSample, error)
}

// FaultInjector is implemented by targets that can perform a scenario's faults.
// CheckFault refuses, before anything starts, a fault this target cannot perform
// (the error says why, naming the action and component); PrepareFault resolves
// what a fault acts on a moment before it starts (which broker leads a partition
// now) and returns the action ready to fire.
type FaultInjector interface {
	CheckFault(f scenarios.Fault) error
	PrepareFault(ctx context.Context, f scenarios.Fault) (FaultAction, error)
}

// FaultAction is a prepared fault: Act performs it, Heal undoes it when the
// fault's duration has passed (nil when the action heals by itself, as restart
// does). Component is the instance acted on (kafka-2 for kafka-leader).
type FaultAction struct {
	Component string
	Act       func(ctx context.Context) error
	Heal      func(ctx context.Context) error
}
