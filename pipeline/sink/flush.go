package sink

import (
	"context"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/citybench/citybench/pipeline/store"
)

// CommitInterval is how often a sink flushes what its partitions stored: first
// the devices' newest sightings, then every partition's offset in one commit.
// Coalescing costs last_seen exactness: the devices table trails the readings
// table by up to an interval and a round trip. In exchange a device costs one
// upsert per interval instead of one per batch (that write cost as much as the
// batch's rows), and a generation one commit request per interval instead of
// one per partition and batch: kafka-go's group connection serves one request at
// a time, and partitions committing side by side spun on its responses.
const CommitInterval = time.Second

// flusher collects what one generation's partition loops stored and flushes it
// beside them, so fetching and storing never wait for a commit or a devices
// write. An offset is committed only after its rows and their devices'
// sightings are stored: a replay from the last commit rewrites both.
type flusher struct {
	s     *Sink
	gen   *kafka.Generation
	loops sync.WaitGroup // the generation's partition loops

	mu      sync.Mutex
	offsets map[int]offset          // partition → newest stored, not yet committed
	devices map[string]store.Device // newest sighting per device since the last flush
}

type offset struct {
	next    int64 // the partition's next offset to read
	records int   // stored records it covers since the last commit
}

func newFlusher(s *Sink, gen *kafka.Generation) *flusher {
	return &flusher{s: s, gen: gen, offsets: map[int]offset{}, devices: map[string]store.Device{}}
}

// stored records that a partition's records before next, and these sightings,
// are in the store.
func (f *flusher) stored(partition int, next int64, records int, devices map[string]store.Device) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keep(map[int]offset{partition: {next: next, records: records}}, devices)
}

// keep merges offsets and sightings into the pending ones; f.mu is held.
func (f *flusher) keep(offsets map[int]offset, devices map[string]store.Device) {
	for p, o := range offsets {
		old := f.offsets[p]
		f.offsets[p] = offset{next: max(o.next, old.next), records: o.records + old.records}
	}
	mergeSightings(f.devices, devices)
}

// mergeSightings keeps, per device, the newest sighting of into and from.
func mergeSightings(into, from map[string]store.Device) {
	for id, d := range from {
		if old, ok := into[id]; !ok || d.LastSeen.After(old.LastSeen) {
			into[id] = d
		}
	}
}

// run flushes every CommitInterval while the generation lives (gctx), retrying
// failures; when it ends it waits for the partition loops to finish their last
// batches and flushes once more under hard.
func (f *flusher) run(gctx, hard context.Context) {
	t := time.NewTicker(CommitInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			f.flush(func(op string, fn func(context.Context) error) error { return retry(gctx, f.s, op, fn) })
		case <-gctx.Done():
			f.loops.Wait()
			// The generation may be over; then the partitions' next owners replay
			// what this commit would have covered.
			f.flush(func(_ string, fn func(context.Context) error) error { return fn(hard) })
			return
		}
	}
}

// flush writes the pending sightings, then commits the pending offsets; what
// fails stays pending for the next flush.
func (f *flusher) flush(run func(op string, fn func(context.Context) error) error) {
	f.mu.Lock()
	offsets, devices := f.offsets, f.devices
	f.offsets, f.devices = map[int]offset{}, map[string]store.Device{}
	f.mu.Unlock()
	if len(offsets) == 0 && len(devices) == 0 {
		return
	}
	s := f.s
	failed := func(what string, err error) {
		s.cfg.logger.Warn("sink: "+what+" not flushed; kept for the next flush, or replayed by the partitions' next owner",
			"partitions", len(offsets), "devices", len(devices), "err", err)
		f.mu.Lock()
		defer f.mu.Unlock()
		f.keep(offsets, devices)
	}
	if len(devices) > 0 {
		ds := make([]store.Device, 0, len(devices))
		for _, d := range devices {
			ds = append(ds, d)
		}
		if err := run("upsert_devices", func(ctx context.Context) error { return s.store.UpsertDevices(ctx, ds) }); err != nil {
			failed("device sightings", err)
			return
		}
		devices = nil
	}
	commit := make(map[int]int64, len(offsets))
	records := 0
	for p, o := range offsets {
		commit[p] = o.next
		records += o.records
	}
	start := time.Now()
	if err := run("commit", func(context.Context) error {
		return f.gen.CommitOffsets(map[string]map[int]int64{s.cfg.topic: commit})
	}); err != nil {
		failed("offsets", err)
		return
	}
	s.metrics.commitLatency.Observe(time.Since(start).Seconds())
	s.committed.Add(int64(records))
}
