// Package sink consumes readings from Kafka and writes them to the store
// idempotently, committing a partition's offset only after the rows before it are
// stored, so a crash or replay re-writes rows instead of losing them.
package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"golang.org/x/time/rate"

	"github.com/citybench/citybench/pipeline/bridge"
	"github.com/citybench/citybench/pipeline/codec"
	"github.com/citybench/citybench/pipeline/store"
)

// Headers the sink adds to its own dead letters, besides the bridge's.
const (
	HeaderSourcePartition = "kafka_partition"
	HeaderSourceOffset    = "kafka_offset"
)

// Defaults.
const (
	DefaultTopic        = "readings"
	DefaultDLQTopic     = "readings.dlq"
	DefaultGroup        = "citybench-sink"
	DefaultBatchSize    = 500
	DefaultLinger       = 2 * time.Millisecond
	DefaultDrainTimeout = 10 * time.Second

	// ReaderMaxWait is the partition readers' MaxWait (see consumePartition).
	ReaderMaxWait = 2 * time.Second
)

type config struct {
	brokers      []string
	topic        string
	dlqTopic     string
	group        string
	codec        codec.Codec
	batchSize    int
	linger       time.Duration
	drainTimeout time.Duration
	registry     *prometheus.Registry
	logger       *slog.Logger
	dialer       *kafka.Dialer
	session      time.Duration
	maxWriteRate float64
}

// Option configures a Sink.
type Option func(*config)

// WithKafka sets the bootstrap brokers.
func WithKafka(brokers ...string) Option {
	return func(c *config) { c.brokers = append([]string(nil), brokers...) }
}

// WithTopic sets the topic to consume.
func WithTopic(t string) Option { return func(c *config) { c.topic = t } }

// WithDeadLetterTopic sets where undecodable records go.
func WithDeadLetterTopic(t string) Option { return func(c *config) { c.dlqTopic = t } }

// WithGroup sets the consumer group id; instances with the same id split the partitions.
func WithGroup(g string) Option { return func(c *config) { c.group = g } }

// WithCodec sets the codec that decodes record values (required).
func WithCodec(cd codec.Codec) Option { return func(c *config) { c.codec = cd } }

// WithBatch sets the most records written to the store at once per partition and
// how long to wait for more records once one has arrived.
func WithBatch(size int, linger time.Duration) Option {
	return func(c *config) { c.batchSize, c.linger = size, linger }
}

// WithDrainTimeout bounds how long Run spends finishing the batches in hand after
// its context ends.
func WithDrainTimeout(d time.Duration) Option { return func(c *config) { c.drainTimeout = d } }

// WithSessionTimeout sets the group session timeout: how long a dead instance
// keeps its partitions before the group moves them.
func WithSessionTimeout(d time.Duration) Option { return func(c *config) { c.session = d } }

// WithRegistry registers the sink's metrics on reg (default: its own registry).
func WithRegistry(reg *prometheus.Registry) Option { return func(c *config) { c.registry = reg } }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithDialer sets the Kafka dialer (TLS, SASL, timeouts).
func WithDialer(d *kafka.Dialer) Option { return func(c *config) { c.dialer = d } }

// WithMaxWriteRate caps the rows written to the store per second (0: no cap), as
// an operator protecting a shared database would; readings beyond it wait in
// Kafka. Time spent waiting is counted (Stats.Throttled).
func WithMaxWriteRate(rowsPerSecond float64) Option {
	return func(c *config) { c.maxWriteRate = rowsPerSecond }
}

// Stats are the sink's counters since it started.
type Stats struct {
	Consumed     int64
	Written      int64
	DeadLettered int64
	Errors       int64
	Committed    int64
	// Throttled is the time batches waited for the write-rate cap.
	Throttled time.Duration
}

// Sink is one Kafka→store consumer instance. Create with New, then Run.
type Sink struct {
	cfg     config
	store   store.Store
	dlq     *kafka.Writer
	metrics *metrics
	limiter *rate.Limiter // nil: no write-rate cap

	consumed, written, deadLettered, errs, committed, throttledNs atomic.Int64
	ready                                                         atomic.Bool
}

// newConfig applies opts to the defaults and validates the result.
func newConfig(noStore bool, opts []Option) (config, error) {
	cfg := config{
		topic:        DefaultTopic,
		dlqTopic:     DefaultDLQTopic,
		group:        DefaultGroup,
		batchSize:    DefaultBatchSize,
		linger:       DefaultLinger,
		drainTimeout: DefaultDrainTimeout,
		session:      10 * time.Second,
	}
	for _, o := range opts {
		o(&cfg)
	}
	var errs []error
	if noStore {
		errs = append(errs, errors.New("no store"))
	}
	if len(cfg.brokers) == 0 {
		errs = append(errs, errors.New("no Kafka brokers"))
	}
	if cfg.codec == nil {
		errs = append(errs, errors.New("no codec"))
	}
	if cfg.topic == "" || cfg.dlqTopic == "" || cfg.group == "" {
		errs = append(errs, errors.New("empty topic, dead-letter topic or group"))
	}
	if cfg.batchSize < 1 {
		errs = append(errs, errors.New("batch size must be positive"))
	}
	if cfg.maxWriteRate < 0 {
		errs = append(errs, fmt.Errorf("max write rate %g rows/s: must be 0 (no cap) or positive", cfg.maxWriteRate))
	}
	if err := errors.Join(errs...); err != nil {
		return config{}, fmt.Errorf("sink config: %w", err)
	}
	if cfg.logger == nil {
		cfg.logger = slog.Default()
	}
	if cfg.registry == nil {
		cfg.registry = prometheus.NewRegistry()
	}
	if cfg.dialer == nil {
		cfg.dialer = &kafka.Dialer{Timeout: 5 * time.Second, DualStack: true}
	}
	return cfg, nil
}

// New validates the options; it opens no connection.
func New(st store.Store, opts ...Option) (*Sink, error) {
	cfg, err := newConfig(st == nil, opts)
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.registry)
	if err != nil {
		return nil, err
	}
	transport := &kafka.Transport{DialTimeout: cfg.dialer.Timeout, TLS: cfg.dialer.TLS, SASL: cfg.dialer.SASLMechanism,
		MetadataTTL: bridge.MetadataTTL}
	var limiter *rate.Limiter
	if cfg.maxWriteRate > 0 {
		// The burst is one whole batch, so a batch is admitted in one piece.
		limiter = rate.NewLimiter(rate.Limit(cfg.maxWriteRate), cfg.batchSize)
	}
	return &Sink{
		cfg:     cfg,
		store:   st,
		metrics: m,
		limiter: limiter,
		dlq: &kafka.Writer{
			Addr:                   kafka.TCP(cfg.brokers...),
			Topic:                  cfg.dlqTopic,
			Balancer:               &kafka.Murmur2Balancer{},
			RequiredAcks:           kafka.RequireAll,
			BatchTimeout:           5 * time.Millisecond,
			MaxAttempts:            3,
			AllowAutoTopicCreation: false,
			Transport:              transport,
		},
	}, nil
}

// Registry returns the registry holding the sink's metrics.
func (s *Sink) Registry() *prometheus.Registry { return s.cfg.registry }

// Ready reports whether the sink holds a group generation.
func (s *Sink) Ready() bool { return s.ready.Load() }

// Stats returns the counters.
func (s *Sink) Stats() Stats {
	return Stats{
		Consumed:     s.consumed.Load(),
		Written:      s.written.Load(),
		DeadLettered: s.deadLettered.Load(),
		Errors:       s.errs.Load(),
		Committed:    s.committed.Load(),
		Throttled:    time.Duration(s.throttledNs.Load()),
	}
}

// Run joins the consumer group and consumes every assigned partition on its own
// goroutine until ctx ends; batches in hand are then finished (written and
// committed) within the drain timeout.
func (s *Sink) Run(ctx context.Context) error {
	defer s.ready.Store(false)
	// hard outlives ctx by the drain timeout so the last batches can be stored
	// and committed, but no longer.
	hard, cancelHard := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHard()
	stopHard := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(s.cfg.drainTimeout, cancelHard)
		context.AfterFunc(hard, func() { t.Stop() })
	})
	defer stopHard()

	cg, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                    s.cfg.group,
		Brokers:               s.cfg.brokers,
		Dialer:                s.cfg.dialer,
		Topics:                []string{s.cfg.topic},
		StartOffset:           kafka.FirstOffset,
		HeartbeatInterval:     time.Second,
		SessionTimeout:        s.cfg.session,
		RebalanceTimeout:      s.cfg.session,
		JoinGroupBackoff:      time.Second,
		WatchPartitionChanges: true,
		Timeout:               5 * time.Second,
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			s.cfg.logger.Debug("kafka consumer group: " + fmt.Sprintf(msg, args...))
		}),
	})
	if err != nil {
		return errors.Join(fmt.Errorf("sink: consumer group: %w", err), s.dlq.Close())
	}
	stopClose := context.AfterFunc(ctx, func() { cg.Close() })
	defer stopClose()

	for {
		gen, err := cg.Next(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, kafka.ErrGroupClosed) {
				break
			}
			s.errs.Add(1)
			s.metrics.errors.WithLabelValues("join").Inc()
			s.cfg.logger.Warn("sink: join group failed, retrying", "group", s.cfg.group, "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		s.ready.Store(true)
		parts := gen.Assignments[s.cfg.topic]
		s.cfg.logger.Info("sink: generation assigned", "generation", gen.ID, "partitions", len(parts))
		f := newFlusher(s, gen)
		for _, pa := range parts {
			f.loops.Add(1)
			gen.Start(func(gctx context.Context) {
				defer f.loops.Done()
				s.consumePartition(gctx, hard, pa, f)
			})
		}
		gen.Start(func(gctx context.Context) { f.run(gctx, hard) })
	}
	cg.Close()
	s.ready.Store(false)
	if err := s.dlq.Close(); err != nil {
		return fmt.Errorf("sink: close dead-letter writer: %w", err)
	}
	s.cfg.logger.Info("sink stopped", "consumed", s.consumed.Load(), "written", s.written.Load(),
		"dead_lettered", s.deadLettered.Load())
	return nil
}

// consumePartition reads one partition from the generation's starting offset.
// Fetching stops when the generation ends (gctx); a batch already fetched is
// finished under hard so shutdown does not throw away work that is nearly done.
// What it stored goes to the generation's flusher, which commits it.
func (s *Sink) consumePartition(gctx, hard context.Context, pa kafka.PartitionAssignment, f *flusher) {
	r := kafka.NewReader(s.readerConfig(pa.ID))
	defer r.Close()
	if err := r.SetOffset(pa.Offset); err != nil {
		s.cfg.logger.Error("sink: set offset", "partition", pa.ID, "offset", pa.Offset, "err", err)
		return
	}
	part := strconv.Itoa(pa.ID)
	lag, batchRecords := s.metrics.lag.WithLabelValues(part), s.metrics.batchRecords
	batch := make([]kafka.Message, 0, s.cfg.batchSize)
	for {
		var err error
		batch, err = s.fetchBatch(gctx, r, batch[:0])
		if err != nil {
			if gctx.Err() != nil {
				return
			}
			s.errs.Add(1)
			s.metrics.errors.WithLabelValues("fetch").Inc()
			s.cfg.logger.Warn("sink: fetch failed", "partition", pa.ID, "err", err)
			select {
			case <-gctx.Done():
				return
			case <-time.After(500 * time.Millisecond):
			}
			continue
		}
		last := batch[len(batch)-1]
		lag.Set(float64(last.HighWaterMark - last.Offset - 1))
		batchRecords.Observe(float64(len(batch)))
		s.consumed.Add(int64(len(batch)))
		s.metrics.consumed.Add(float64(len(batch)))
		devices, err := s.handleBatch(hard, batch)
		if err != nil {
			// Not stored means not committed: the next owner of the partition
			// starts again from the last commit.
			s.cfg.logger.Error("sink: batch not stored, leaving partition", "partition", pa.ID, "err", err)
			return
		}
		f.stored(pa.ID, last.Offset+1, len(batch), devices)
	}
}

// fetchBatch waits for one record, then takes what else arrives within the
// linger, up to the batch size. The linger is one deadline per batch, not per
// record: a timer per record cost more than the records' own fetch.
func (s *Sink) fetchBatch(gctx context.Context, r *kafka.Reader, batch []kafka.Message) ([]kafka.Message, error) {
	m, err := r.FetchMessage(gctx)
	if err != nil {
		return batch, err
	}
	batch = append(batch, m)
	if len(batch) >= s.cfg.batchSize {
		return batch, nil
	}
	lctx, cancel := context.WithTimeout(gctx, s.cfg.linger)
	defer cancel()
	for len(batch) < s.cfg.batchSize {
		m, err := r.FetchMessage(lctx)
		if err != nil {
			break
		}
		batch = append(batch, m)
	}
	return batch, nil
}

// readerConfig is one partition's reader.
func (s *Sink) readerConfig(partition int) kafka.ReaderConfig {
	return kafka.ReaderConfig{
		Brokers:   s.cfg.brokers,
		Topic:     s.cfg.topic,
		Partition: partition,
		Dialer:    s.cfg.dialer,
		MinBytes:  1,
		MaxBytes:  4 << 20,
		// With MinBytes 1 the broker answers as soon as a record is readable;
		// MaxWait only bounds an idle fetch. kafka-go also makes it the read
		// deadline and asks the broker for MaxWait minus an RTT allowance (a
		// quarter below 1 s, else 1 s): at 100 ms a loaded broker often missed the
		// 25 ms margin, and each miss closed the connection and re-dialled the
		// leader after a backoff, delaying records and loading the brokers.
		MaxWait: ReaderMaxWait,
		// The reader prefetches up to a whole batch while the previous one is
		// being stored (kafka-go's default holds 100 records).
		QueueCapacity:  s.cfg.batchSize,
		ReadBackoffMin: 50 * time.Millisecond,
		ReadBackoffMax: time.Second,
		// Offsets are committed by the flusher after the store writes, never by
		// the reader.
		CommitInterval: 0,
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			s.cfg.logger.Debug("kafka reader: " + fmt.Sprintf(msg, args...))
		}),
	}
}

// KafkaReaderConfig returns the reader configuration a sink built with opts
// uses for one partition, to measure the bare client with the sink's settings
// beside the sink.
func KafkaReaderConfig(partition int, opts ...Option) (kafka.ReaderConfig, error) {
	cfg, err := newConfig(false, opts)
	if err != nil {
		return kafka.ReaderConfig{}, err
	}
	return (&Sink{cfg: cfg}).readerConfig(partition), nil
}

// handleBatch decodes a batch, dead-letters what cannot be decoded and writes the
// rest to the store, retrying until everything is stored or ctx ends. It
// returns the newest sighting of each device among the stored rows.
func (s *Sink) handleBatch(ctx context.Context, batch []kafka.Message) (map[string]store.Device, error) {
	rows := make([]store.Row, 0, len(batch))
	type sighting struct {
		at    time.Time
		model string
		m     *kafka.Message
	}
	newest := map[string]sighting{} // per device, its newest row's
	var dead []kafka.Message
	for i, m := range batch {
		r, err := s.cfg.codec.Decode(header(m.Headers, bridge.HeaderSourceTopic), m.Value)
		if err != nil {
			dead = append(dead, s.deadLetter(m, err))
			continue
		}
		t := time.Unix(0, r.SampleTimeNs).UTC()
		row, err := store.Normalize(store.Row{
			DeviceID: r.DeviceID,
			Day:      store.DayOf(t),
			Time:     t,
			Seq:      r.Seq,
			Metrics:  r.Metrics,
		})
		if err != nil {
			// A row the store would refuse would be retried forever and block
			// its partition; it is a dead letter instead.
			dead = append(dead, s.deadLetter(m, &codec.RejectError{Reason: "unstorable", Detail: err.Error()}))
			continue
		}
		rows = append(rows, row)
		if n, seen := newest[r.DeviceID]; !seen || t.After(n.at) {
			newest[r.DeviceID] = sighting{at: t, model: r.Model, m: &batch[i]}
		}
	}
	if len(dead) > 0 {
		if err := retry(ctx, s, "dead_letter", func(ctx context.Context) error {
			return s.dlq.WriteMessages(ctx, dead...)
		}); err != nil {
			return nil, err
		}
		s.deadLettered.Add(int64(len(dead)))
		s.metrics.deadLettered.Add(float64(len(dead)))
	}
	if len(rows) == 0 {
		return nil, nil
	}
	if err := s.throttle(ctx, len(rows)); err != nil {
		return nil, err
	}
	start := time.Now()
	if err := retry(ctx, s, "write", func(ctx context.Context) error {
		return s.store.WriteReadings(ctx, rows)
	}); err != nil {
		return nil, err
	}
	s.metrics.writeLatency.Observe(time.Since(start).Seconds())
	s.written.Add(int64(len(rows)))
	s.metrics.written.Add(float64(len(rows)))
	devices := make(map[string]store.Device, len(newest))
	for id, n := range newest {
		d := store.Device{ID: id, Model: n.model, Topic: header(n.m.Headers, bridge.HeaderSourceTopic), LastSeen: n.at}
		if loc := header(n.m.Headers, bridge.HeaderLocation); loc != "" {
			d.Location = bridge.ParseLocation([]byte(loc))
		}
		devices[id] = d
	}
	return devices, nil
}

// throttle waits until the write-rate cap admits n rows.
func (s *Sink) throttle(ctx context.Context, n int) error {
	if s.limiter == nil {
		return nil
	}
	start := time.Now()
	r := s.limiter.ReserveN(start, n)
	if !r.OK() { // cannot happen: the burst is a whole batch
		return fmt.Errorf("sink: %d rows exceed the write-rate burst %d", n, s.limiter.Burst())
	}
	if d := r.DelayFrom(start); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			r.Cancel()
			return fmt.Errorf("sink: waiting for the write-rate cap: %w", ctx.Err())
		case <-t.C:
		}
		s.throttledNs.Add(int64(d))
		s.metrics.throttled.Add(d.Seconds())
	}
	return nil
}

func (s *Sink) deadLetter(m kafka.Message, err error) kafka.Message {
	reason := codec.Reason(err)
	if reason == "" {
		reason = "malformed"
	}
	hs := append([]kafka.Header(nil), m.Headers...)
	hs = append(hs,
		kafka.Header{Key: bridge.HeaderReason, Value: []byte(reason)},
		kafka.Header{Key: bridge.HeaderDetail, Value: []byte(err.Error())},
		kafka.Header{Key: bridge.HeaderStage, Value: []byte("sink")},
		kafka.Header{Key: HeaderSourcePartition, Value: []byte(strconv.Itoa(m.Partition))},
		kafka.Header{Key: HeaderSourceOffset, Value: []byte(strconv.FormatInt(m.Offset, 10))},
	)
	return kafka.Message{Key: m.Key, Value: m.Value, Headers: hs}
}

// header returns the value of the record header key, "" if absent.
func header(hs []kafka.Header, key string) string {
	for _, h := range hs {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// retry runs op with exponential backoff until it succeeds or ctx ends.
func retry(ctx context.Context, s *Sink, op string, fn func(context.Context) error) error {
	backoff := 50 * time.Millisecond
	for attempt := 0; ; attempt++ {
		err := fn(ctx)
		if err == nil {
			return nil
		}
		s.errs.Add(1)
		s.metrics.errors.WithLabelValues(op).Inc()
		if attempt%20 == 0 {
			s.cfg.logger.Warn("sink: operation failed, retrying", "op", op, "attempt", attempt+1, "err", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("sink %s: %w (last error: %w)", op, ctx.Err(), err)
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}

type metrics struct {
	consumed     prometheus.Counter
	written      prometheus.Counter
	deadLettered prometheus.Counter
	errors       *prometheus.CounterVec
	writeLatency prometheus.Histogram
	// lag is, per partition, the records after the last batch fetched: the
	// backlog the sink has yet to read.
	lag           *prometheus.GaugeVec
	batchRecords  prometheus.Histogram
	commitLatency prometheus.Histogram
	throttled     prometheus.Counter
}

func newMetrics(reg *prometheus.Registry) (*metrics, error) {
	m := &metrics{
		consumed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "citybench_sink_consumed_total", Help: "Kafka records consumed."}),
		written: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "citybench_sink_written_total", Help: "Rows written to the store."}),
		deadLettered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "citybench_sink_dead_lettered_total", Help: "Undecodable records written to the dead-letter topic."}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "citybench_sink_errors_total", Help: "Failed operations by kind."}, []string{"op"}),
		writeLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "citybench_sink_write_seconds",
			Help:    "Time to write one batch of rows to the store, retries included.",
			Buckets: prometheus.ExponentialBuckets(0.0002, 2, 18)}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "citybench_sink_partition_lag",
			Help: "Records in the partition after the sink's last fetched batch (high watermark - next offset)."}, []string{"partition"}),
		batchRecords: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "citybench_sink_batch_records",
			Help:    "Records per batch handed to the store (one partition's fetch).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12)}),
		commitLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "citybench_sink_commit_seconds",
			Help:    "Time to commit the offsets of every partition the sink stored since the last flush (one request per CommitInterval), retries included.",
			Buckets: prometheus.ExponentialBuckets(0.0002, 2, 18)}),
		throttled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "citybench_sink_throttled_seconds_total", Help: "Time batches waited for the write-rate cap."}),
	}
	for _, c := range []prometheus.Collector{m.consumed, m.written, m.deadLettered, m.errors, m.writeLatency,
		m.lag, m.batchRecords, m.commitLatency, m.throttled} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("sink metrics: %w", err)
		}
	}
	return m, nil
}
