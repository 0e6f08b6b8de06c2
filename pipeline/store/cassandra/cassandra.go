// Package cassandra is the production store.Store: readings in a
// ((device_id, day), time, seq) table and a devices table in Apache Cassandra,
// written with token-aware, single-partition unlogged batches.
package cassandra

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"golang.org/x/sync/errgroup"

	"github.com/citybench/citybench/pipeline/store"
)

// Defaults for Config's zero fields.
const (
	DefaultKeyspace         = "citybench"
	DefaultReplication      = "{'class': 'SimpleStrategy', 'replication_factor': 1}"
	DefaultConsistency      = "LOCAL_QUORUM"
	DefaultTimeout          = 10 * time.Second
	DefaultWriteConcurrency = 16
	// maxBatchRows and maxBatchBytes keep a batch well under Cassandra's
	// batch_size_fail_threshold (50 KiB by default): a partition with more rows
	// is written as several batches.
	maxBatchRows  = 100
	maxBatchBytes = 32 << 10
)

// Config says where the cluster is and how to talk to it.
type Config struct {
	// Hosts are contact points, "host" or "host:port" (default port 9042).
	Hosts []string
	// Keyspace is created if missing (default DefaultKeyspace).
	Keyspace string
	// Replication is the keyspace's CQL replication map, used only when the
	// keyspace is created, e.g. "{'class': 'NetworkTopologyStrategy', 'dc1': 3}".
	Replication string
	// Consistency for reads and writes, e.g. "ONE", "QUORUM", "LOCAL_QUORUM"
	// (default). Reads and writes use the same level so a QUORUM pair sees its
	// own writes.
	Consistency string
	// Username and Password enable password authentication when Username is set.
	Username, Password string
	// TLS, when set, encrypts client connections and verifies the nodes' certificates
	// (against TLS.ServerName when set, else the address dialled).
	TLS *tls.Config
	// Timeout bounds connecting and each request (default DefaultTimeout).
	Timeout time.Duration
	// WriteConcurrency bounds the partitions written at once per call (default
	// DefaultWriteConcurrency).
	WriteConcurrency int
	// Logger receives driver warnings and errors (default slog.Default()).
	Logger *slog.Logger
}

var keyspaceName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,47}$`)

func (c Config) withDefaults() (Config, error) {
	if len(c.Hosts) == 0 {
		return c, errors.New("cassandra: no hosts")
	}
	c.Keyspace = cmp.Or(c.Keyspace, DefaultKeyspace)
	c.Replication = cmp.Or(c.Replication, DefaultReplication)
	c.Consistency = cmp.Or(c.Consistency, DefaultConsistency)
	c.Timeout = cmp.Or(c.Timeout, DefaultTimeout)
	c.WriteConcurrency = cmp.Or(c.WriteConcurrency, DefaultWriteConcurrency)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	// Both end up inside CQL text (DDL cannot take bind markers), so they are
	// checked strictly.
	if !keyspaceName.MatchString(c.Keyspace) {
		return c, fmt.Errorf("cassandra: bad keyspace name %q", c.Keyspace)
	}
	r := strings.TrimSpace(c.Replication)
	if !strings.HasPrefix(r, "{") || !strings.HasSuffix(r, "}") || strings.ContainsAny(r, ";\n") {
		return c, fmt.Errorf("cassandra: replication %q is not a CQL map literal", c.Replication)
	}
	if c.WriteConcurrency < 1 || c.Timeout < 0 {
		return c, errors.New("cassandra: write concurrency and timeout must be positive")
	}
	return c, nil
}

// Store is a store.Store on Cassandra. Safe for concurrent use.
type Store struct {
	cfg     Config
	cons    gocql.Consistency
	session *gocql.Session
	closed  atomic.Bool

	insertReading string
	selectReading string
	upsertDevice  string
	selectDevices string
}

var _ store.Store = (*Store)(nil)

// Open connects, creates the keyspace and tables if missing, checks an existing
// schema is compatible, and returns the store.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	cons, err := gocql.ParseConsistencyWrapper(cfg.Consistency)
	if err != nil {
		return nil, fmt.Errorf("cassandra: consistency %q: %w", cfg.Consistency, err)
	}
	// The keyspace may not exist yet, so the schema is set up on a session bound
	// to none; the working session is bound to it so token-aware routing knows
	// the replication of every statement.
	admin, err := connect(ctx, cfg, cons, "")
	if err != nil {
		return nil, err
	}
	err = migrate(ctx, admin, cfg)
	admin.Close()
	if err != nil {
		return nil, err
	}
	session, err := connect(ctx, cfg, cons, cfg.Keyspace)
	if err != nil {
		return nil, err
	}
	ks := cfg.Keyspace
	return &Store{
		cfg:           cfg,
		cons:          cons,
		session:       session,
		insertReading: InsertReadingCQL(ks),
		selectReading: fmt.Sprintf(`SELECT time, seq, metrics, WRITETIME(metrics) FROM %s.readings
			WHERE device_id = ? AND day = ? AND time >= ? AND time < ? LIMIT ?`, ks),
		upsertDevice:  fmt.Sprintf(`INSERT INTO %s.devices (device_id, model, topic, location, last_seen) VALUES (?, ?, ?, ?, ?)`, ks),
		selectDevices: fmt.Sprintf(`SELECT device_id, model, topic, location, last_seen FROM %s.devices`, ks),
	}, nil
}

// InsertReadingCQL is the statement that writes one reading into keyspace ks,
// bound as (device_id, day, time, seq, metrics).
func InsertReadingCQL(ks string) string {
	return fmt.Sprintf(`INSERT INTO %s.readings (device_id, day, time, seq, metrics) VALUES (?, ?, ?, ?, ?)`, ks)
}

func connect(ctx context.Context, cfg Config, cons gocql.Consistency, keyspace string) (*gocql.Session, error) {
	cluster := gocql.NewCluster(cfg.Hosts...)
	cluster.Keyspace = keyspace
	cluster.Consistency = cons
	cluster.Timeout = cfg.Timeout
	cluster.ConnectTimeout = cfg.Timeout
	cluster.PoolConfig.HostSelectionPolicy = gocql.TokenAwareHostPolicy(gocql.RoundRobinHostPolicy(), gocql.ShuffleReplicas())
	// Idempotent writes may be retried; a retry re-stamps the write time, which
	// is the truth about when the store finally accepted the row.
	cluster.RetryPolicy = &gocql.ExponentialBackoffRetryPolicy{NumRetries: 3, Min: 50 * time.Millisecond, Max: time.Second}
	// Server-side timestamps: WRITETIME is then the coordinator's clock at
	// acceptance, not the client's clock before sending, which is what the
	// store stage of a measurement needs.
	cluster.DefaultTimestamp = false
	cluster.Logger = slogLogger{cfg.Logger}
	if cfg.Username != "" {
		cluster.Authenticator = gocql.PasswordAuthenticator{Username: cfg.Username, Password: cfg.Password}
	}
	if cfg.TLS != nil {
		cluster.SslOpts = &gocql.SslOptions{Config: cfg.TLS, EnableHostVerification: true}
	}
	// CreateSession takes no context; run it aside and abandon it (closing the
	// session when it arrives) if ctx ends first. It is bounded by ConnectTimeout.
	type result struct {
		s   *gocql.Session
		err error
	}
	ch := make(chan result, 1)
	go func() {
		s, err := cluster.CreateSession()
		ch <- result{s, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, fmt.Errorf("cassandra: connect to %v: %w", cfg.Hosts, r.err)
		}
		return r.s, nil
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.s != nil {
				r.s.Close()
			}
		}()
		return nil, fmt.Errorf("cassandra: connect to %v: %w", cfg.Hosts, ctx.Err())
	}
}

// WriteReadings validates every row before writing any, groups rows by
// partition and writes each partition with unlogged batches (one replica set
// per batch, so no coordinator fan-out), partitions concurrently. On error some
// partitions may be written; rewriting the same rows is safe.
func (s *Store) WriteReadings(ctx context.Context, rows []store.Row) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	type pkey struct{ device, day string }
	parts := map[pkey][]store.Row{}
	var order []pkey
	for _, r := range rows {
		n, err := store.Normalize(r)
		if err != nil {
			return fmt.Errorf("write readings: %w", err)
		}
		k := pkey{n.DeviceID, n.Day}
		if _, ok := parts[k]; !ok {
			order = append(order, k)
		}
		parts[k] = append(parts[k], n)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("write readings: %w", err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.cfg.WriteConcurrency)
	for _, k := range order {
		for _, chunk := range chunks(parts[k]) {
			g.Go(func() error { return s.writeBatch(gctx, chunk) })
		}
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("write readings: %w", err)
	}
	return nil
}

// chunks splits one partition's rows into batches under the size limits.
func chunks(rows []store.Row) [][]store.Row {
	var out [][]store.Row
	start, size := 0, 0
	for i, r := range rows {
		est := 64 + len(r.DeviceID) + len(r.Day)
		for name := range r.Metrics {
			est += len(name) + 12
		}
		if i > start && (i-start >= maxBatchRows || size+est > maxBatchBytes) {
			out = append(out, rows[start:i])
			start, size = i, 0
		}
		size += est
	}
	return append(out, rows[start:])
}

func (s *Store) writeBatch(ctx context.Context, rows []store.Row) error {
	if len(rows) == 1 {
		r := rows[0]
		err := s.session.Query(s.insertReading, r.DeviceID, r.Day, r.Time, int64(r.Seq), r.Metrics).
			Consistency(s.cons).Idempotent(true).ExecContext(ctx)
		if err != nil {
			return fmt.Errorf("insert %s/%s: %w", r.DeviceID, r.Day, err)
		}
		return nil
	}
	b := s.session.Batch(gocql.UnloggedBatch).Consistency(s.cons)
	for _, r := range rows {
		b.Entries = append(b.Entries, gocql.BatchEntry{
			Stmt:       s.insertReading,
			Args:       []any{r.DeviceID, r.Day, r.Time, int64(r.Seq), r.Metrics},
			Idempotent: true,
		})
	}
	if err := b.ExecContext(ctx); err != nil {
		return fmt.Errorf("batch of %d rows into %s/%s: %w", len(rows), rows[0].DeviceID, rows[0].Day, err)
	}
	return nil
}

// UpsertDevices writes each device with its LastSeen (µs) as the write
// timestamp, so Cassandra's last-write-wins becomes last-seen-wins whatever
// order sinks deliver sightings in.
func (s *Store) UpsertDevices(ctx context.Context, devices []store.Device) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	now := time.Now()
	norm := make([]store.Device, len(devices))
	for i, d := range devices {
		n, err := store.NormalizeDevice(d, now)
		if err != nil {
			return fmt.Errorf("upsert devices: %w", err)
		}
		norm[i] = n
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.cfg.WriteConcurrency)
	for _, d := range norm {
		g.Go(func() error {
			err := s.session.Query(s.upsertDevice, d.ID, d.Model, d.Topic, d.Location, d.LastSeen).
				WithTimestamp(d.LastSeen.UnixMicro()).Consistency(s.cons).Idempotent(true).ExecContext(gctx)
			if err != nil {
				return fmt.Errorf("upsert device %q: %w", d.ID, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("upsert devices: %w", err)
	}
	return nil
}

// Devices scans the devices table, which holds one small row per device.
func (s *Store) Devices(ctx context.Context) ([]store.Device, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	iter := s.session.Query(s.selectDevices).Consistency(s.cons).PageSize(5000).IterContext(ctx)
	var out []store.Device
	var (
		d        store.Device
		location map[string]string
	)
	for iter.Scan(&d.ID, &d.Model, &d.Topic, &location, &d.LastSeen) {
		d.Location = nil
		if len(location) > 0 {
			d.Location = location
		}
		d.LastSeen = d.LastSeen.UTC()
		out = append(out, d)
		location = nil
	}
	if err := iter.Close(); err != nil {
		return nil, fmt.Errorf("devices: %w", err)
	}
	slices.SortFunc(out, func(a, b store.Device) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// Readings queries the day partitions of [From, To) in order until Limit rows.
func (s *Store) Readings(ctx context.Context, q store.Query) ([]store.Row, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	limit, err := store.CheckQuery(q)
	if err != nil {
		return nil, fmt.Errorf("readings: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("readings: %w", err)
	}
	var out []store.Row
	for _, day := range store.Days(q.From, q.To) {
		left := limit - len(out)
		if left == 0 {
			break
		}
		iter := s.session.Query(s.selectReading, q.DeviceID, day, q.From, q.To, left).
			Consistency(s.cons).PageSize(min(left, 5000)).IterContext(ctx)
		var (
			t       time.Time
			seq     int64
			metrics map[string]float64
			wt      int64
		)
		for iter.Scan(&t, &seq, &metrics, &wt) {
			out = append(out, store.Row{
				DeviceID: q.DeviceID, Day: day, Time: t.UTC(), Seq: uint64(seq),
				Metrics: metrics, WriteTime: time.UnixMicro(wt),
			})
			metrics = nil
		}
		if err := iter.Close(); err != nil {
			return nil, fmt.Errorf("readings of %q on %s: %w", q.DeviceID, day, err)
		}
	}
	return out, nil
}

// Close closes the session; later calls return store.ErrClosed.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.session.Close()
	return nil
}
