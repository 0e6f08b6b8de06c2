package embedded

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/citybench/citybench/scenarios"
)

// TestTargetFieldsAreHonoured starts the embedded target with a non-default Kafka
// layout and asks the running cluster itself: a target that reports a topology
// it did not have (kafka_brokers: 1 used to run, and report, 3 brokers and RF 3)
// makes every figure of the run misleading.
func TestTargetFieldsAreHonoured(t *testing.T) {
	cases := []struct {
		name               string
		target             string
		brokers, rf, parts int
		topic              string
	}{
		{"defaults", "kind: embedded", 3, 3, 6, "readings"},
		{"one broker", "kind: embedded\n  kafka_brokers: 1", 1, 1, 6, "readings"},
		{"two brokers, rf 2, own topic", "kind: embedded\n  kafka_brokers: 2\n  replication_factor: 2\n  partitions: 3\n  kafka_topic: city.readings", 2, 2, 3, "city.readings"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sc, err := scenarios.Parse("t.yaml", []byte(fmt.Sprintf(`
name: t
duration: 5s
fleets:
  - name: env
    devices: 1
    topic: city/{device}
    codec: json
    qos: 1
    sensors: [{metric: t, mean: 1, stddev: 1}]
    arrival: {kind: fixed, interval: 1s}
target:
  %s
`, c.target)))
			if err != nil {
				t.Fatal(err)
			}
			tgt, err := New(sc, nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			ep, err := tgt.Start(ctx)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = tgt.Stop(context.Background()) })

			if ep.KafkaTopic != c.topic {
				t.Errorf("endpoint topic %q, want %q", ep.KafkaTopic, c.topic)
			}
			brokers, parts := kafkaLayout(ctx, t, ep.KafkaBrokers[0], ep.KafkaTopic)
			if len(ep.KafkaBrokers) != c.brokers || brokers != c.brokers {
				t.Errorf("cluster has %d brokers (%d bootstrap addresses), want %d", brokers, len(ep.KafkaBrokers), c.brokers)
			}
			if len(parts) != c.parts {
				t.Errorf("topic %s has %d partitions, want %d", ep.KafkaTopic, len(parts), c.parts)
			}
			for _, p := range parts {
				if len(p.Replicas) != c.rf {
					t.Errorf("partition %d lists %d replicas, want %d", p.ID, len(p.Replicas), c.rf)
				}
			}
			top := tgt.Describe().Topology
			for k, want := range map[string]string{
				"kafka_brokers": fmt.Sprint(c.brokers), "replication_factor": fmt.Sprint(c.rf),
				"partitions": fmt.Sprint(c.parts), "kafka_topic": c.topic,
			} {
				if top[k] != want {
					t.Errorf("reported %s = %q, want %q", k, top[k], want)
				}
			}
		})
	}
}

// kafkaLayout asks bootstrap for the cluster's brokers and topic's partitions.
func kafkaLayout(ctx context.Context, t *testing.T, bootstrap, topic string) (int, []kafka.Partition) {
	t.Helper()
	var d kafka.Dialer
	conn, err := d.DialContext(ctx, "tcp", bootstrap)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	bs, err := conn.Brokers()
	if err != nil {
		t.Fatalf("brokers: %v", err)
	}
	parts, err := conn.ReadPartitions(topic)
	if err != nil {
		t.Fatalf("partitions of %s: %v", topic, err)
	}
	return len(bs), parts
}

// TestRetention: the pipeline keeps every reading at least as long as one run
// can take from its first send to the store tap's last read (so retention never
// makes a stored reading look lost), and no longer than that plus the margin.
func TestRetention(t *testing.T) {
	cases := []struct {
		name                    string
		warmup, duration, drain time.Duration
		want                    time.Duration
	}{
		{"a capacity search's confirming step of smoke", 2 * time.Second, 30 * time.Second, 30 * time.Second, 102 * time.Second},
		{"short runs keep the minimum", 0, 5 * time.Second, 0, 70 * time.Second},
		{"a two-hour run keeps two hours and its drain", time.Minute, 2 * time.Hour, 10 * time.Minute, 2*time.Hour + 21*time.Minute + 10*time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sc := &scenarios.Scenario{Warmup: scenarios.Duration(c.warmup), Drain: scenarios.Duration(c.drain),
				Phases: []scenarios.Phase{{Name: "steady", Duration: scenarios.Duration(c.duration), RateFactor: 1, ActiveFraction: 1}}}
			got := Retention(sc)
			if got != c.want {
				t.Errorf("Retention = %s, want %s", got, c.want)
			}
			if longest := c.warmup + c.duration + 2*c.drain; got < longest {
				t.Errorf("Retention %s is shorter than the run can take (%s)", got, longest)
			}
		})
	}
}
