package taps

import (
	"context"
	"errors"
	"fmt"
	"sync"
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

// Kafka reads the readings topic and records the Kafka stage. Rather than a
// consumer group (whose join and rebalance would hide the first seconds of a run)
// it reads every partition directly from the end offsets taken before load
// starts: it sees exactly what this run produced, and never moves the sink's
// group offsets.
type Kafka struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	err    error
}

// StartKafka snapshots the end offset of every partition of topic and starts one
// reader per partition (a device's records all land in one partition, so each
// device is recorded by one goroutine, as the ledger requires). Every connection
// goes through dialer (TLS, SASL); nil means kafka-go's default, plaintext.
func StartKafka(ctx context.Context, brokers []string, topic string, dialer *kafka.Dialer, l *ledger.Ledger) (*Kafka, error) {
	env, err := newEnvelopes(l)
	if err != nil {
		return nil, err
	}
	if dialer == nil {
		dialer = kafka.DefaultDialer
	}
	offsets, err := endOffsets(ctx, dialer, brokers, topic)
	if err != nil {
		return nil, fmt.Errorf("kafka tap: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	k := &Kafka{cancel: cancel}
	for partition, off := range offsets {
		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers:   brokers,
			Topic:     topic,
			Partition: partition,
			Dialer:    dialer,
			MinBytes:  1,
			MaxBytes:  16 << 20,
			MaxWait:   TapMaxWait,
		})
		if err := r.SetOffset(off); err != nil {
			cancel()
			return nil, fmt.Errorf("kafka tap: partition %d offset %d: %w", partition, off, err)
		}
		k.wg.Add(1)
		go func() {
			defer k.wg.Done()
			defer r.Close()
			for {
				m, err := r.FetchMessage(runCtx)
				if err != nil {
					if runCtx.Err() == nil {
						k.fail(fmt.Errorf("kafka tap: partition %d: %w", partition, err))
					}
					return
				}
				now := time.Now().UnixNano()
				topic := ""
				for _, h := range m.Headers {
					if h.Key == bridge.HeaderSourceTopic {
						topic = string(h.Value)
					}
				}
				if dev, seq, ok := env.find(topic, string(m.Key), m.Value); ok {
					l.Observe(ledger.Kafka, dev, seq, now)
				}
			}
		}()
	}
	return k, nil
}

func (k *Kafka) fail(err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.err == nil {
		k.err = err
	}
}

// Stop ends every reader and returns the first read error, if any.
func (k *Kafka) Stop() error {
	k.cancel()
	k.wg.Wait()
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.err
}

func endOffsets(ctx context.Context, dialer *kafka.Dialer, brokers []string, topic string) (map[int]int64, error) {
	var conn *kafka.Conn
	var errs []error
	for _, b := range brokers {
		c, err := dialer.DialContext(ctx, "tcp", b)
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
	parts, err := conn.ReadPartitions(topic)
	if err != nil {
		return nil, fmt.Errorf("read partitions of %s: %w", topic, err)
	}
	if len(parts) == 0 {
		return nil, fmt.Errorf("topic %s has no partitions", topic)
	}
	out := make(map[int]int64, len(parts))
	for _, p := range parts {
		leader := fmt.Sprintf("%s:%d", p.Leader.Host, p.Leader.Port)
		lc, err := dialer.DialLeader(ctx, "tcp", leader, topic, p.ID)
		if err != nil {
			return nil, fmt.Errorf("dial leader of %s/%d at %s: %w", topic, p.ID, leader, err)
		}
		off, err := lc.ReadLastOffset()
		lc.Close()
		if err != nil {
			return nil, fmt.Errorf("end offset of %s/%d: %w", topic, p.ID, err)
		}
		out[p.ID] = off
	}
	return out, nil
}
