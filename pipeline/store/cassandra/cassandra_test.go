package cassandra

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/citybench/citybench/pipeline/store"
	"github.com/citybench/citybench/pipeline/store/storetest"
)

// hosts returns the cluster to test against, or skips: these tests need a real
// Cassandra and say how to provide one.
func hosts(t *testing.T) []string {
	t.Helper()
	v := os.Getenv("CITYBENCH_CASSANDRA_HOSTS")
	if v == "" {
		t.Skip("skipped: no Cassandra available. Set CITYBENCH_CASSANDRA_HOSTS=127.0.0.1:9042 " +
			"(comma-separated contact points) to run the store conformance suite against a real cluster")
	}
	return strings.Split(v, ",")
}

func open(t *testing.T, cfg Config) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := Open(ctx, cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	cfg := Config{Hosts: hosts(t), Keyspace: "citybench_test"}
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, cfg) })
}

func TestOpenIsIdempotent(t *testing.T) {
	cfg := Config{Hosts: hosts(t), Keyspace: "citybench_test"}
	for range 2 {
		if err := open(t, cfg).Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestConfigRejects(t *testing.T) {
	tests := map[string]Config{
		"no hosts":           {},
		"keyspace injection": {Hosts: []string{"h"}, Keyspace: "ks; DROP KEYSPACE x"},
		"keyspace too long":  {Hosts: []string{"h"}, Keyspace: strings.Repeat("k", 49)},
		"replication":        {Hosts: []string{"h"}, Replication: "{'class':'SimpleStrategy'}; DROP TABLE t"},
		"not a map":          {Hosts: []string{"h"}, Replication: "SimpleStrategy"},
		"consistency":        {Hosts: []string{"127.0.0.1:1"}, Consistency: "MOST"},
	}
	for name, cfg := range tests {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if s, err := Open(ctx, cfg); err == nil {
			s.Close()
			t.Errorf("%s: Open accepted %+v", name, cfg)
		}
		cancel()
	}
}

func TestChunksBoundBatches(t *testing.T) {
	big := map[string]float64{}
	for i := range 200 {
		big[strings.Repeat("m", 100)+string(rune('a'+i%26))+strings.Repeat("z", i/26)] = 1
	}
	tests := []struct {
		name      string
		rows      int
		metrics   map[string]float64
		wantParts int
	}{
		{"one row", 1, map[string]float64{"t": 1}, 1},
		{"exactly a batch", maxBatchRows, map[string]float64{"t": 1}, 1},
		{"one over", maxBatchRows + 1, map[string]float64{"t": 1}, 2},
		{"big rows split by bytes", 10, big, 10},
	}
	for _, tc := range tests {
		rows := make([]store.Row, tc.rows)
		for i := range rows {
			rows[i] = store.Row{DeviceID: "d", Day: "2026-01-01", Metrics: tc.metrics}
		}
		parts := chunks(rows)
		n := 0
		for _, p := range parts {
			n += len(p)
		}
		if len(parts) != tc.wantParts || n != tc.rows {
			t.Errorf("%s: %d chunks holding %d rows, want %d chunks holding %d", tc.name, len(parts), n, tc.wantParts, tc.rows)
		}
	}
}

func BenchmarkWriteReadings(b *testing.B) {
	v := os.Getenv("CITYBENCH_CASSANDRA_HOSTS")
	if v == "" {
		b.Skip("skipped: no Cassandra available; set CITYBENCH_CASSANDRA_HOSTS=127.0.0.1:9042")
	}
	s, err := Open(context.Background(), Config{Hosts: strings.Split(v, ","), Keyspace: "citybench_test"})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.BenchWrite(b, s, 100, 500)
}

// An older table (non-frozen metrics, so no WRITETIME before Cassandra 5) must be
// reported at Open rather than misread later.
func TestOpenRejectsIncompatibleSchema(t *testing.T) {
	h := hosts(t)
	const ks = "citybench_test_old"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin, err := connect(ctx, Config{Hosts: h, Timeout: DefaultTimeout, Logger: slog.Default()}, gocql.One, "")
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	for _, stmt := range []string{
		`CREATE KEYSPACE IF NOT EXISTS ` + ks + ` WITH replication = ` + DefaultReplication,
		`CREATE TABLE IF NOT EXISTS ` + ks + `.readings (device_id text, day text, time timestamp, seq bigint,
			metrics map<text, double>, PRIMARY KEY ((device_id, day), time, seq))`,
	} {
		if err := admin.Query(stmt).ExecContext(ctx); err != nil {
			t.Fatal(err)
		}
	}
	s, err := Open(ctx, Config{Hosts: h, Keyspace: ks})
	if err == nil {
		s.Close()
		t.Fatal("Open accepted a readings table with a non-frozen metrics map")
	}
	if !strings.Contains(err.Error(), "metrics") {
		t.Errorf("error does not name the column: %v", err)
	}
}
