package cassandra

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/citybench/citybench/pipeline/store"
)

var _ store.Footprinter = (*Store)(nil)

// Footprint measures the readings table: bytes from Cassandra's own size
// estimates (system.size_estimates: mean partition size × partitions, per
// token range, on one replica — SSTables only, so rows still in memtables are
// not counted until a flush), rows by counting them, and the keyspace's
// replication factor from system_schema.
func (s *Store) Footprint(ctx context.Context) (store.Footprint, error) {
	if s.closed.Load() {
		return store.Footprint{}, store.ErrClosed
	}
	fp := store.Footprint{Method: "measured: system.size_estimates of the readings table over its row count (SELECT COUNT(*))"}
	it := s.session.Query(`SELECT mean_partition_size, partitions_count FROM system.size_estimates WHERE keyspace_name = ? AND table_name = 'readings'`,
		s.cfg.Keyspace).WithContext(ctx).Iter()
	var mean, count int64
	for it.Scan(&mean, &count) {
		fp.Bytes += mean * count
	}
	if err := it.Close(); err != nil {
		return fp, fmt.Errorf("cassandra footprint: size estimates: %w", err)
	}
	if err := s.session.Query(fmt.Sprintf(`SELECT COUNT(*) FROM %s.readings`, s.cfg.Keyspace)).WithContext(ctx).Scan(&fp.Rows); err != nil {
		return fp, fmt.Errorf("cassandra footprint: count rows: %w", err)
	}
	var repl map[string]string
	if err := s.session.Query(`SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?`, s.cfg.Keyspace).WithContext(ctx).Scan(&repl); err != nil {
		return fp, fmt.Errorf("cassandra footprint: replication: %w", err)
	}
	fp.Replication = replicationFactor(repl)
	if fp.Bytes == 0 && fp.Rows > 0 {
		return fp, errors.New("cassandra footprint: size estimates are empty — the readings table has not been flushed to SSTables yet (memtables are not counted; Cassandra refreshes the estimates every few minutes)")
	}
	return fp, nil
}

// replicationFactor reads a keyspace replication map: SimpleStrategy's
// replication_factor, or the sum over data centres for NetworkTopologyStrategy.
func replicationFactor(m map[string]string) int {
	if v, ok := m["replication_factor"]; ok {
		n, _ := strconv.Atoi(v)
		return max(n, 1)
	}
	n := 0
	for k, v := range m {
		if k == "class" {
			continue
		}
		if d, err := strconv.Atoi(v); err == nil {
			n += d
		}
	}
	return max(n, 1)
}
