package embedded

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// kafka4Min is the lowest version Apache Kafka 4.0 still accepts for the APIs
// whose old versions KIP-896 removed. kfake accepts them all, so without this
// check the embedded tests would pass with a client a real Kafka 4 refuses
// (kafka-go before v0.4.48 sent JoinGroup v1, for one).
var kafka4Min = map[int16]int16{
	int16(kmsg.Produce):      3,
	int16(kmsg.Fetch):        4,
	int16(kmsg.ListOffsets):  1,
	int16(kmsg.OffsetCommit): 2,
	int16(kmsg.OffsetFetch):  1,
	int16(kmsg.JoinGroup):    2,
	int16(kmsg.CreateTopics): 2,
	int16(kmsg.DeleteTopics): 1,
}

// TestClientProtocolVersionsSurviveKafka4 records every request version the
// bridge, sink and admin calls send during a run, and fails on any that Kafka
// 4.0 removed. The observed set is logged for whoever runs a real broker.
func TestClientProtocolVersionsSurviveKafka4(t *testing.T) {
	p := start(t)
	var mu sync.Mutex
	seen := map[string]bool{}
	p.kafkaMu.Lock()
	p.kafka.Control(func(r kmsg.Request) (kmsg.Response, error, bool) {
		mu.Lock()
		seen[fmt.Sprintf("%s v%d", kmsg.NameForKey(r.Key()), r.GetVersion())] = true
		if low, ok := kafka4Min[r.Key()]; ok && r.GetVersion() < low {
			seen[fmt.Sprintf("REMOVED IN KAFKA 4: %s v%d", kmsg.NameForKey(r.Key()), r.GetVersion())] = true
		}
		mu.Unlock()
		return nil, nil, false // observe only
	})
	p.kafkaMu.Unlock()

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	// The group's join and offset fetch already happened in Start; restarting
	// the sinks makes them happen again under observation.
	if err := p.StopSinks(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.StartSinks(ctx); err != nil {
		t.Fatal(err)
	}
	base := time.Now().UTC().Truncate(time.Hour)
	fleet{devices: 5, msgs: 20, base: base, firstSeq: 1}.publish(ctx, t, p.MQTTURL, nil)
	waitRows(ctx, t, p, 100)
	publishMalformed(t, p.MQTTURL, 1)
	deadLetters(ctx, t, p)
	mu.Lock()
	var all []string
	for k := range seen {
		all = append(all, k)
	}
	mu.Unlock()
	sort.Strings(all)
	t.Logf("request versions sent: %v", all)
	for _, k := range all {
		if len(k) > 7 && k[:7] == "REMOVED" {
			t.Error(k)
		}
	}
}
