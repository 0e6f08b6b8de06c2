package testcontainers

import (
	"strings"
	"testing"

	"github.com/citybench/citybench/scenarios"
)

func TestTopologyFrom(t *testing.T) {
	cases := []struct {
		name    string
		in      scenarios.Target
		want    Topology
		wantErr []string // substrings every one of which must appear
	}{
		{
			name: "defaults",
			in:   scenarios.Target{Kind: "containers"},
			want: Topology{Broker: "mosquitto", Brokers: 1, KafkaBrokers: 3, Partitions: 6, ReplicationFactor: 3, MinInsyncReplicas: 2,
				CassandraNodes: 1, BridgeReplicas: 1, SinkReplicas: 1, Security: "none", KafkaTopic: "readings"},
		},
		{
			name: "single broker scales replication defaults down",
			in:   scenarios.Target{KafkaBrokers: 1, Broker: "hivemq"},
			want: Topology{Broker: "hivemq", Brokers: 1, KafkaBrokers: 1, Partitions: 6, ReplicationFactor: 1, MinInsyncReplicas: 1,
				CassandraNodes: 1, BridgeReplicas: 1, SinkReplicas: 1, Security: "none", KafkaTopic: "readings"},
		},
		{
			name: "explicit values kept",
			in: scenarios.Target{KafkaBrokers: 5, Partitions: 12, ReplicationFactor: 3, MinInsyncReplicas: 3, CassandraNodes: 2,
				BridgeReplicas: 2, SinkReplicas: 3, Security: "tls", KafkaTopic: "city"},
			want: Topology{Broker: "mosquitto", Brokers: 1, KafkaBrokers: 5, Partitions: 12, ReplicationFactor: 3, MinInsyncReplicas: 3,
				CassandraNodes: 2, BridgeReplicas: 2, SinkReplicas: 3, Security: "tls", KafkaTopic: "city"},
		},
		{
			name:    "every error reported at once",
			in:      scenarios.Target{Broker: "emqx", KafkaBrokers: 2, ReplicationFactor: 3, Security: "mtls", SinkReplicas: -1},
			wantErr: []string{`broker "emqx"`, `security "mtls"`, "replication_factor 3 exceeds kafka_brokers 2", "sink_replicas = -1"},
		},
		{
			name:    "min ISR above RF",
			in:      scenarios.Target{ReplicationFactor: 2, MinInsyncReplicas: 3},
			wantErr: []string{"min_insync_replicas 3 exceeds replication_factor 2"},
		},
		{
			name: "tls with hivemq",
			in:   scenarios.Target{Broker: "hivemq", Security: "tls"},
			want: Topology{Broker: "hivemq", Brokers: 1, KafkaBrokers: 3, Partitions: 6, ReplicationFactor: 3, MinInsyncReplicas: 2,
				CassandraNodes: 1, BridgeReplicas: 1, SinkReplicas: 1, Security: "tls", KafkaTopic: "readings"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := TopologyFrom(c.in)
			if len(c.wantErr) > 0 {
				if err == nil {
					t.Fatalf("no error; want %q", c.wantErr)
				}
				for _, w := range c.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("error: %v", err)
			}
			if got != c.want {
				t.Errorf("got %+v\nwant %+v", got, c.want)
			}
		})
	}
}
