package taps

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/citybench/citybench/harness/ledger"
	"github.com/citybench/citybench/pipeline/bridge"
)

// TapMaxWait is the tap readers' MaxWait. With MinBytes 1 the broker answers a
// fetch as soon as a record is readable, so MaxWait only bounds an idle fetch and
// adds no latency; too short a MaxWait does. kafka-go uses MaxWait as the
// connection's read deadline and asks the broker to wait that long minus an RTT
// allowance (1 s, or a quarter of MaxWait below 1 s). At 50 ms the broker could
// answer only 12.5 ms before the client gave up: on a loaded host about half the
// fetches timed out, and a client-side timeout makes kafka-go close the
// connection, back off 100 ms and dial the leader again (metadata and offset
// requests included) - about 20 re-dials per partition in 11 s, the tap seeing
// records ~35 ms after the producer was acknowledged and the extra requests
// slowing the brokers. 2 s gives the broker a 1 s wait and the client a 1 s margin.
const TapMaxWait = 2 * time.Second

// KafkaConfig says how the tap reaches Kafka.
type KafkaConfig struct {
	Brokers []string // bootstrap addresses
	Topic   string
	// Dialer, when set, is how every connection of the tap is made (TLS, SASL);
	// nil dials plain TCP.
	Dialer *kafka.Dialer
}

// dialer is the one place the tap's connections are configured.
func (c KafkaConfig) dialer() *kafka.Dialer {
	if c.Dialer != nil {
		return c.Dialer
	}
	return &kafka.Dialer{Timeout: 10 * time.Second, DualStack: true}
}

// Kafka reads the readings topic and records the Kafka stage. Rather than a
// consumer group (whose join and rebalance would hide the first seconds of a run)
// it reads every partition directly from the end offsets taken before load
// starts: it sees exactly what this run produced, and never moves the sink's
// group offsets. Each partition has its own reader; when a read fails (its
// leader died, the connection dropped) the partition is unavailable to the tap
// until a new reader, dialled with backoff from the next offset, reads again —
// it follows the partition to its new leader and never gives up on it.
type Kafka struct {
	cfg     KafkaConfig
	rec     Recorder
	envs    *envelopes
	outages *outages
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	redials atomic.Int64 // readers replaced after an error, for the report
	// handle takes every record read (record: the Kafka stage's observation).
	handle func(kafka.Message)
}

// kafkaStartTimeout bounds how long Start retries finding the partitions' end
// offsets: long enough for leadership to settle, short enough to fail fast on an
// endpoint that is simply wrong.
const kafkaStartTimeout = 30 * time.Second

// NewKafka returns the Kafka tap; Start connects it.
func NewKafka(cfg KafkaConfig) *Kafka { return &Kafka{cfg: cfg} }

// Stage is the Kafka stage.
func (k *Kafka) Stage() ledger.Stage { return ledger.Kafka }

// Start snapshots the end offset of every partition of the topic and starts one
// reader per partition (a device's records all land in one partition, so each
// device is recorded by one goroutine, as the recorder requires).
func (k *Kafka) Start(ctx context.Context, env Env) error {
	envs, err := newEnvelopes(env.Plan)
	if err != nil {
		return err
	}
	k.envs = envs
	k.handle = k.record
	return k.start(ctx, env, newOutages(ledger.Kafka, env.Rec.Start))
}

// start reads every partition of the configured topic from its end offset now,
// passing each record to k.handle.
func (k *Kafka) start(ctx context.Context, env Env, o *outages) error {
	k.rec, k.outages = env.Rec, o
	offsets, err := k.endOffsets(ctx)
	if err != nil {
		return fmt.Errorf("%s tap: %w", o.tap, err)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	k.cancel = cancel
	for partition, off := range offsets {
		k.wg.Add(1)
		go func() {
			defer k.wg.Done()
			k.follow(runCtx, partition, off)
		}()
	}
	return nil
}

// follow reads one partition from offset until ctx ends, re-dialling after any error.
func (k *Kafka) follow(ctx context.Context, partition int, offset int64) {
	key := fmt.Sprintf("partition %d", partition)
	retry := retryPolicy()
	for attempt := 0; ctx.Err() == nil; attempt++ {
		if attempt > 0 {
			k.redials.Add(1)
			if !sleep(ctx, retry.NextBackOff()) {
				return
			}
		}
		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers:   k.cfg.Brokers,
			Topic:     k.cfg.Topic,
			Partition: partition,
			Dialer:    k.cfg.dialer(),
			MinBytes:  1,
			MaxBytes:  16 << 20,
			MaxWait:   TapMaxWait,
			// kafka-go retries a failed dial this often before FetchMessage sees the
			// error; then the reader is replaced, with its own backoff, from offset.
			MaxAttempts: 3,
		})
		if err := r.SetOffset(offset); err != nil {
			k.outages.down(key, fmt.Sprintf("%s: seek to %d: %v", key, offset, err))
			r.Close()
			continue
		}
		for {
			m, err := r.FetchMessage(ctx)
			if err != nil {
				if ctx.Err() == nil {
					k.outages.down(key, fmt.Sprintf("%s: %v", key, err))
				}
				break
			}
			k.outages.up(key)
			retry.Reset()
			offset = m.Offset + 1
			k.handle(m)
		}
		r.Close()
	}
}

func (k *Kafka) record(m kafka.Message) {
	now := time.Now().UnixNano()
	topic := ""
	for _, h := range m.Headers {
		if h.Key == bridge.HeaderSourceTopic {
			topic = string(h.Value)
		}
	}
	if dev, seq, ok := k.envs.find(topic, string(m.Key), m.Value); ok {
		k.rec.Observe(ledger.Kafka, dev, seq, now)
	}
}

// Stop waits until the tap has seen as many messages as were sent and a correct
// pipeline passes on (or ctx ends),
// then ends every reader. A partition still unavailable at the end leaves the
// messages the tap did not see unverified: it could not look.
func (k *Kafka) Stop(ctx context.Context, _ time.Duration) Report {
	waitFor(ctx, func() bool { return k.rec.Delivered(ledger.Kafka) >= k.rec.Forwardable() })
	return k.stop()
}

// stop ends every reader and reports the tap's outages and redials.
func (k *Kafka) stop() Report {
	k.cancel()
	k.wg.Wait()
	rep := Report{Stage: ledger.Kafka, Outages: k.outages.spans(), Counters: map[string]int64{}}
	if redials := k.redials.Load(); redials > 0 {
		rep.Counters[k.outages.tap+"_tap_redials"] = redials
	}
	for _, sp := range rep.Outages {
		if sp.Open {
			rep.Unverified = func(int, time.Duration) bool { return true }
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s tap: still unavailable when it stopped (%s): the messages it did not see are unverified, not lost", k.outages.tap, sp.Reason))
			break
		}
	}
	return rep
}

// endOffsets finds every partition's leader and its end offset, retrying with
// backoff while leadership settles, for at most kafkaStartTimeout.
func (k *Kafka) endOffsets(ctx context.Context) (map[int]int64, error) {
	ctx, cancel := context.WithTimeout(ctx, kafkaStartTimeout)
	defer cancel()
	retry := retryPolicy()
	for {
		out, err := k.readEndOffsets(ctx)
		if err == nil {
			return out, nil
		}
		var perm *permanent
		if errors.As(err, &perm) || !sleep(ctx, retry.NextBackOff()) {
			return nil, err
		}
	}
}

// permanent marks an error retrying cannot fix (the topic does not exist).
type permanent struct{ error }

func (p *permanent) Unwrap() error { return p.error }

func (k *Kafka) readEndOffsets(ctx context.Context) (map[int]int64, error) {
	d := k.cfg.dialer()
	var conn *kafka.Conn
	var errs []error
	for _, b := range k.cfg.Brokers {
		c, err := d.DialContext(ctx, "tcp", b)
		if err == nil {
			conn = c
			break
		}
		errs = append(errs, err)
	}
	if conn == nil {
		return nil, fmt.Errorf("no Kafka broker reachable: %w", errors.Join(errs...))
	}
	defer conn.Close()
	parts, err := conn.ReadPartitions(k.cfg.Topic)
	if err != nil {
		if errors.Is(err, kafka.UnknownTopicOrPartition) {
			return nil, &permanent{fmt.Errorf("read partitions of %s: %w", k.cfg.Topic, err)}
		}
		return nil, fmt.Errorf("read partitions of %s: %w", k.cfg.Topic, err)
	}
	if len(parts) == 0 {
		return nil, &permanent{fmt.Errorf("topic %s has no partitions", k.cfg.Topic)}
	}
	out := make(map[int]int64, len(parts))
	for _, p := range parts {
		leader := fmt.Sprintf("%s:%d", p.Leader.Host, p.Leader.Port)
		lc, err := d.DialLeader(ctx, "tcp", leader, k.cfg.Topic, p.ID)
		if err != nil {
			return nil, fmt.Errorf("dial leader of %s/%d at %s: %w", k.cfg.Topic, p.ID, leader, err)
		}
		off, err := lc.ReadLastOffset()
		lc.Close()
		if err != nil {
			return nil, fmt.Errorf("end offset of %s/%d: %w", k.cfg.Topic, p.ID, err)
		}
		out[p.ID] = off
	}
	return out, nil
}
