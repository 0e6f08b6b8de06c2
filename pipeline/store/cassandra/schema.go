package cassandra

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

// metrics is frozen: Cassandra refuses WRITETIME on a non-frozen collection
// before 5.0, and a frozen map is one cell, so a rewrite replaces the whole map
// exactly as the memory store does. location is frozen for the same overwrite
// semantics.
func schema(keyspace, replication string) []string {
	return []string{
		fmt.Sprintf(`CREATE KEYSPACE IF NOT EXISTS %s WITH replication = %s`, keyspace, replication),
		fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s.readings (
			device_id text,
			day text,
			time timestamp,
			seq bigint,
			metrics frozen<map<text, double>>,
			PRIMARY KEY ((device_id, day), time, seq)
		) WITH CLUSTERING ORDER BY (time ASC, seq ASC)`, keyspace),
		fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s.devices (
			device_id text PRIMARY KEY,
			model text,
			topic text,
			location frozen<map<text, text>>,
			last_seen timestamp
		)`, keyspace),
	}
}

// wantColumns is the schema the code reads and writes; an existing table that
// differs (say, from an older version with a non-frozen map) is reported rather
// than silently misread.
func wantColumns() map[string]map[string]string {
	return map[string]map[string]string{
		"readings": {"device_id": "text", "day": "text", "time": "timestamp", "seq": "bigint", "metrics": "frozen<map<text, double>>"},
		"devices":  {"device_id": "text", "model": "text", "topic": "text", "location": "frozen<map<text, text>>", "last_seen": "timestamp"},
	}
}

// migrate creates what is missing, waits for every node to agree, then checks
// the tables it found have the columns the store needs. New columns in a future
// version go here as ALTER TABLE … ADD statements guarded by that check.
func migrate(ctx context.Context, s *gocql.Session, cfg Config) error {
	for _, stmt := range schema(cfg.Keyspace, cfg.Replication) {
		// DDL goes to one node; ALL would fail on a cluster with a node down.
		if err := s.Query(stmt).Consistency(gocql.One).ExecContext(ctx); err != nil {
			return fmt.Errorf("cassandra: schema: %s: %w", firstLine(stmt), err)
		}
		if err := s.AwaitSchemaAgreement(ctx); err != nil {
			return fmt.Errorf("cassandra: schema agreement after %s: %w", firstLine(stmt), err)
		}
	}
	for table, want := range wantColumns() {
		iter := s.Query(`SELECT column_name, type FROM system_schema.columns WHERE keyspace_name = ? AND table_name = ?`,
			cfg.Keyspace, table).IterContext(ctx)
		got := map[string]string{}
		var name, typ string
		for iter.Scan(&name, &typ) {
			got[name] = typ
		}
		if err := iter.Close(); err != nil {
			return fmt.Errorf("cassandra: read schema of %s.%s: %w", cfg.Keyspace, table, err)
		}
		for col, typ := range want {
			if got[col] != typ {
				return fmt.Errorf("cassandra: %s.%s.%s has type %q, want %q; migrate or drop the table",
					cfg.Keyspace, table, col, got[col], typ)
			}
		}
	}
	return nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '('); i > 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}

// slogLogger routes the driver's logs to slog.
type slogLogger struct{ l *slog.Logger }

func attrs(fields []gocql.LogField) []any {
	out := make([]any, 0, len(fields))
	for _, f := range fields {
		out = append(out, slog.Any(f.Name, f.Value.Any()))
	}
	return out
}

func (s slogLogger) Error(msg string, f ...gocql.LogField) { s.l.Error("cassandra: "+msg, attrs(f)...) }
func (s slogLogger) Warning(msg string, f ...gocql.LogField) {
	s.l.Warn("cassandra: "+msg, attrs(f)...)
}
func (s slogLogger) Info(msg string, f ...gocql.LogField)  { s.l.Info("cassandra: "+msg, attrs(f)...) }
func (s slogLogger) Debug(msg string, f ...gocql.LogField) { s.l.Debug("cassandra: "+msg, attrs(f)...) }
