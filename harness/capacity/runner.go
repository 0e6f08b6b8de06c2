package capacity

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/citybench/citybench/harness"
	"github.com/citybench/citybench/harness/schedule"
	"github.com/citybench/citybench/pipeline/store"
	"github.com/citybench/citybench/reports/result"
	"github.com/citybench/citybench/scenarios"
)

// Scaling modes.
const (
	ByRate    = "rate"    // every fleet's rate
	ByDevices = "devices" // every fleet's device count
)

// StepsDir holds every step's result, beside capacity.json.
const StepsDir = "steps"

// settleLimit bounds the wait for the pipeline's backlog to drain between steps.
const settleLimit = 3 * time.Minute

// CPULimiter is implemented by targets that know their components' CPU
// allowances (the containers target: each container's CPU limit), in percent.
type CPULimiter interface {
	CPULimits(ctx context.Context) (map[string]float64, error)
}

// Runner runs steps with harness.Run on one shared topology.
type Runner struct {
	Scenario *scenarios.Scenario
	Target   Shared
	By       string
	BaseRate float64
	// Dir is the capacity folder; each step's result goes to Dir/steps/NN-kind-RATE/result.json.
	Dir    string
	Logger *slog.Logger
	// Progress, when set, gets a line as each step starts.
	Progress io.Writer

	// last holds the target's counters after the previous step: on a shared
	// topology they accumulate, so a step reports what changed during it.
	last map[string]int64
}

// RunStep scales the scenario to the step's rate, runs it, keeps the result,
// measures it and waits for the pipeline to drain before the next step.
func (rn *Runner) RunStep(ctx context.Context, st Step) (result.StepEntry, error) {
	log := rn.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sc := Scale(rn.Scenario, rn.By, st.Rate/rn.BaseRate, st.Hold)
	if rn.Progress != nil {
		fmt.Fprintf(rn.Progress, "step %d (%s): %.0f msgs/s for %s after a %s warm-up…\n", st.Index, st.Kind, st.Rate, st.Hold, sc.Warmup.D())
	}
	host := startHostSampler(ctx)
	res, runErr := harness.Run(ctx, sc, harness.Options{Target: rn.Target, Logger: log})
	ticks := host.finish()
	if res == nil {
		return result.StepEntry{}, runErr
	}
	rel := filepath.Join(StepsDir, fmt.Sprintf("%02d-%s-%.0f", st.Index, st.Kind, st.Rate))
	dir := filepath.Join(rn.Dir, rel)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return result.StepEntry{}, fmt.Errorf("step folder: %w", err)
	}
	if err := res.Save(filepath.Join(dir, "result.json")); err != nil {
		return result.StepEntry{}, err
	}
	e := Measure(res, rn.cpuLimits(ctx))
	e.Counters = rn.stepCounters(res.Counters, rn.Target.Counters(context.WithoutCancel(ctx)))
	e.HostLoad, e.HostCores = hostLoad(), runtime.NumCPU()
	hostShare(&e, res, ticks)
	e.ResultFile = filepath.Join(rel, "result.json")
	if runErr != nil {
		return e, runErr
	}
	lag, err := rn.settle(ctx)
	if err != nil {
		log.Warn("settle between steps", "err", err)
	}
	if lag >= 0 {
		if e.Counters == nil {
			e.Counters = map[string]int64{}
		}
		e.Counters["sink_lag_after_drain"] = lag
	}
	return e, nil
}

func (rn *Runner) cpuLimits(ctx context.Context) func(string) float64 {
	host := 100 * float64(runtime.NumCPU())
	var limits map[string]float64
	if cl, ok := rn.Target.Inner().(CPULimiter); ok {
		var err error
		if limits, err = cl.CPULimits(ctx); err != nil && rn.Logger != nil {
			rn.Logger.Warn("CPU limits unavailable", "err", err)
		}
	}
	return func(c string) float64 {
		if l, ok := limits[c]; ok && l > 0 && l < host {
			return l
		}
		return host
	}
}

// stepCounters is the run's own counters with each of the target's replaced by
// how much it changed during the step (the step's result.json keeps the
// target's totals since the topology started).
func (rn *Runner) stepCounters(run, target map[string]int64) map[string]int64 {
	out := make(map[string]int64, len(run)+len(target))
	for k, v := range run {
		out[k] = v
	}
	for k, v := range target {
		out[k] = v - rn.last[k]
	}
	rn.last = target
	return out
}

// hostLoad is the 1-minute load average (0 where /proc/loadavg is missing).
func hostLoad() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	var l float64
	if _, err := fmt.Sscan(string(b), &l); err != nil {
		return 0
	}
	return l
}

// settle waits until the sink's consumer group has caught up with the readings
// topic, so a failed step's backlog does not load the next one. It returns the
// lag first seen (-1 when it could not be read).
func (rn *Runner) settle(ctx context.Context) (int64, error) {
	eps, ok := rn.Target.Endpoints()
	if !ok || len(eps.KafkaBrokers) == 0 || eps.SinkGroup == "" {
		return -1, nil
	}
	first := int64(-1)
	deadline := time.Now().Add(settleLimit)
	for {
		lag, err := SinkLag(ctx, eps.KafkaBrokers, eps.KafkaTopic, eps.SinkGroup)
		if err != nil {
			return first, err
		}
		if first < 0 {
			first = lag
		}
		if lag <= 0 {
			return first, nil
		}
		if time.Now().After(deadline) {
			return first, fmt.Errorf("sink still %d records behind after %s: the next step starts on a loaded pipeline", lag, settleLimit)
		}
		select {
		case <-ctx.Done():
			return first, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// SinkLag is the consumer lag of group on topic: records written but not yet
// committed (the reference sink commits only after the store has the rows).
func SinkLag(ctx context.Context, brokers []string, topic, group string) (int64, error) {
	cl := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 5 * time.Second}
	md, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return 0, fmt.Errorf("sink lag: metadata: %w", err)
	}
	var ids []int
	var reqs []kafka.OffsetRequest
	for _, t := range md.Topics {
		for _, p := range t.Partitions {
			ids = append(ids, p.ID)
			reqs = append(reqs, kafka.LastOffsetOf(p.ID))
		}
	}
	if len(ids) == 0 {
		return 0, fmt.Errorf("sink lag: topic %s has no partitions", topic)
	}
	ends, err := cl.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return 0, fmt.Errorf("sink lag: end offsets: %w", err)
	}
	committed, err := cl.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: ids}})
	if err != nil {
		return 0, fmt.Errorf("sink lag: committed offsets of %s: %w", group, err)
	}
	at := map[int]int64{}
	for _, p := range committed.Topics[topic] {
		at[p.Partition] = max(p.CommittedOffset, 0)
	}
	var lag int64
	for _, p := range ends.Topics[topic] {
		if p.Error != nil {
			return 0, fmt.Errorf("sink lag: partition %d: %w", p.Partition, p.Error)
		}
		lag += max(p.LastOffset-at[p.Partition], 0)
	}
	return lag, nil
}

// Scale copies sc with its offered load multiplied by factor, as one steady
// phase of hold after the scenario's warm-up.
func Scale(sc *scenarios.Scenario, by string, factor float64, hold time.Duration) *scenarios.Scenario {
	out := *sc
	out.Fleets = append([]scenarios.Fleet(nil), sc.Fleets...)
	rate := 1.0
	if by == ByDevices {
		for i := range out.Fleets {
			out.Fleets[i].Devices = max(1, int(float64(sc.Fleets[i].Devices)*factor+0.5))
		}
	} else {
		rate = factor
	}
	out.Duration = scenarios.Duration(hold)
	out.Phases = []scenarios.Phase{{Name: "steady", Duration: scenarios.Duration(hold), RateFactor: rate, ActiveFraction: 1}}
	return &out
}

// BaseLoad is the scenario's offered load at scale 1 (one steady phase, every
// device active): in total and per fleet.
func BaseLoad(sc *scenarios.Scenario) (float64, []FleetLoad, error) {
	const window = 60 * time.Second
	probe := Scale(sc, ByRate, 1, window)
	probe.Warmup = 0
	plan, err := schedule.Build(probe)
	if err != nil {
		return 0, nil, fmt.Errorf("base load: %w", err)
	}
	perFleet := map[string]int{}
	for _, d := range plan.Devices {
		perFleet[d.Fleet.Name] += d.Count()
	}
	var fleets []FleetLoad
	total := 0.0
	for _, f := range sc.Fleets {
		r := float64(perFleet[f.Name]) / window.Seconds()
		total += r
		fleets = append(fleets, FleetLoad{Fleet: f.Name, Devices: f.Devices, Rate: r, Interval: f.Arrival.Interval.D()})
	}
	if total == 0 {
		return 0, nil, errors.New("base load: the scenario offers no messages")
	}
	return total, fleets, nil
}

// Footprint asks the running store what it holds. When it cannot say (the
// memory store has no files; Cassandra's estimates miss unflushed memtables),
// bytes per reading are estimated from the raw field bytes of sampled rows and
// labelled an estimate.
func Footprint(ctx context.Context, sh Shared) (store.Footprint, error) {
	eps, ok := sh.Endpoints()
	if !ok || eps.Store == nil {
		return store.Footprint{}, errors.New("storage sizing: the target's store is not reachable")
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var fp store.Footprint
	err := errors.New("the store cannot report its size")
	if f, ok := eps.Store.(store.Footprinter); ok {
		if fp, err = f.Footprint(ctx); err == nil {
			return fp, nil
		}
	}
	n, b, serr := sampleRows(ctx, eps.Store)
	if serr != nil {
		return fp, fmt.Errorf("storage sizing: %w", errors.Join(err, serr))
	}
	est := store.Footprint{Rows: fp.Rows, Replication: max(fp.Replication, 1), Estimate: true,
		Method: fmt.Sprintf("estimate: raw field bytes of %d sampled rows, no storage-engine overhead or compression (%v)", n, err)}
	if est.Rows <= 0 {
		est.Rows = n
	}
	est.Bytes = b * est.Rows / n
	return est, nil
}

// sampleRows reads up to 20 devices' rows and sums their raw field bytes.
func sampleRows(ctx context.Context, st store.Store) (rows, bytes int64, err error) {
	devs, err := st.Devices(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("sample rows: %w", err)
	}
	for i, d := range devs {
		if i == 20 {
			break
		}
		rs, err := st.Readings(ctx, store.Query{DeviceID: d.ID, From: d.LastSeen.Add(-24 * time.Hour), To: d.LastSeen.Add(time.Second), Limit: 500})
		if err != nil {
			return 0, 0, fmt.Errorf("sample rows of %s: %w", d.ID, err)
		}
		for _, r := range rs {
			rows++
			bytes += store.RawBytes(r)
		}
	}
	if rows == 0 {
		return 0, 0, errors.New("sample rows: the store holds no readings")
	}
	return rows, bytes, nil
}
