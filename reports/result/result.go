// Package result is the serialisable outcome of one citybench run: what result.json
// holds. The harness produces it; every report, plot and comparison reads only it.
package result

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"
)

// SchemaVersion changes whenever a field changes meaning.
const SchemaVersion = 1

// Stage names in pipeline order.
const (
	StageSent   = "sent"
	StageAcked  = "acked"
	StageBroker = "broker"
	StageKafka  = "kafka"
	StageStore  = "store"
	StageAPI    = "api"
)

// Stages lists every stage in pipeline order.
var Stages = []string{StageSent, StageAcked, StageBroker, StageKafka, StageStore, StageAPI}

// Flags a run can carry.
const (
	FlagGeneratorSaturated = "generator_saturated" // generator lag p99 above bound: the harness, not the system, was the bottleneck
	FlagPartial            = "partial"             // the run was interrupted; figures cover only what ran
	FlagEmbedded           = "embedded"            // in-process pipeline: not representative of production capacity
	FlagClosedLoop         = "closed_loop"         // burst devices waited for acknowledgements: the load followed the system
)

// Result is the whole of result.json.
type Result struct {
	SchemaVersion int            `json:"schema_version"`
	Meta          Meta           `json:"meta"`
	Flags         []string       `json:"flags,omitempty"`
	Warnings      []string       `json:"warnings,omitempty"`
	Phases        []Phase        `json:"phases"`
	Intervals     []Interval     `json:"intervals"`
	Stages        []StageSummary `json:"stages"`
	GeneratorLag  Quantiles      `json:"generator_lag"`
	// GeneratorLagHDR is the base64 V2-compressed HdrHistogram (µs) of sent − intended.
	GeneratorLagHDR string           `json:"generator_lag_hdr,omitempty"`
	Faults          []FaultEvent     `json:"faults,omitempty"`
	SLOs            []SLOVerdict     `json:"slos,omitempty"`
	Resources       []ResourceSample `json:"resources,omitempty"`
	Counters        map[string]int64 `json:"counters,omitempty"` // e.g. broker_inflight_dropped, dead_lettered, connect_errors
	// Workers holds each segment's own generator figures in a merged result: a
	// saturated worker is visible even when the merged lag looks fine.
	Workers []Worker `json:"workers,omitempty"`
	// TapOutages are spans when one of citybench's own taps could not observe its
	// stage (a Kafka broker it reads from was down, API polls failed): the
	// harness's trouble, never counted as the pipeline's loss.
	TapOutages []TapOutage `json:"tap_outages,omitempty"`
	// Malformed counts the deliberately malformed messages of fleets with a
	// malformed fraction: not part of any stage's delivery accounting.
	Malformed *Malformed `json:"malformed,omitempty"`
	// Replays says what each replay fleet replayed of its recording.
	Replays []Replay `json:"replays,omitempty"`
	// Reconnects are the fleets' reconnect storms (see ReconnectStorm).
	Reconnects []ReconnectStorm `json:"reconnects,omitempty"`
	// MQTT5ReasonCodes counts the reason codes MQTT 5 brokers answered, per
	// packet kind ("connack", "puback", …) and code ("0x00 success").
	MQTT5ReasonCodes map[string]map[string]int64 `json:"mqtt5_reason_codes,omitempty"`
}

// Worker is one segment of a merged run, as its own process saw it.
type Worker struct {
	Segment      string    `json:"segment"`
	Devices      int       `json:"devices"`
	GeneratorLag Quantiles `json:"generator_lag"`
	// Saturated is true when this worker's generator lag p99 exceeded the bound.
	Saturated bool  `json:"saturated,omitempty"`
	Errors    int64 `json:"errors,omitempty"`
}

// Meta describes what ran, where and when.
type Meta struct {
	Scenario         string            `json:"scenario"`
	ScenarioFile     string            `json:"scenario_file,omitempty"`
	ScenarioHash     string            `json:"scenario_hash"` // sha256 of the scenario file bytes
	Description      string            `json:"description,omitempty"`
	Seed             int64             `json:"seed"`
	GitRevision      string            `json:"git_revision,omitempty"`
	CitybenchVersion string            `json:"citybench_version,omitempty"`
	Components       map[string]string `json:"components,omitempty"` // component → version or image
	Machine          Machine           `json:"machine"`
	Target           Target            `json:"target"`
	StartedAt        time.Time         `json:"started_at"`
	EndedAt          time.Time         `json:"ended_at"`
	// OffsetZero is the wall-clock time of the run's offset 0 (intended times and
	// interval seconds count from it); the segments of one run share it.
	OffsetZero time.Time `json:"offset_zero,omitzero"`
	// MeasuredFrom is when the measured window began (after warm-up), as seconds since StartedAt.
	MeasuredFromS float64 `json:"measured_from_s"`
	// DurationS is the measured window's length: after warm-up, and for a partial
	// run only up to the interruption. Throughput is delivered / DurationS.
	DurationS float64 `json:"duration_s"`
	Devices   int     `json:"devices"`
	QoS       []int   `json:"qos,omitempty"`
	// Segment is the slice of the scenario's devices this result covers ("1/3":
	// device k of every fleet with k mod 3 = 1); empty for the whole scenario.
	Segment string `json:"segment,omitempty"`
	// Segments counts the segment results a merged result was built from (0: not merged).
	Segments int `json:"segments,omitempty"`
	// Command is how the run was started, so a result says how to repeat it.
	Command *Command `json:"command,omitempty"`
}

// Command is the command line of a run.
type Command struct {
	// Args is an equivalent command line: the command, its arguments and every flag
	// given, as --name=value, e.g. citybench run smoke.yaml --target=containers.
	Args []string `json:"args"`
	// Overrides are the scenario fields the flags replaced, by path, e.g.
	// target.kind=containers, seed=7: what the scenario file alone does not say.
	Overrides map[string]string `json:"overrides,omitempty"`
}

// String is the command line as a shell would take it back.
func (c *Command) String() string {
	quoted := make([]string, len(c.Args))
	for i, a := range c.Args {
		quoted[i] = shellQuote(a)
	}
	return strings.Join(quoted, " ")
}

// shellQuote single-quotes a word unless it holds only characters no POSIX shell
// treats specially.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,+@%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Machine is the host the harness ran on.
type Machine struct {
	CPUModel    string `json:"cpu_model"`
	Cores       int    `json:"cores"`
	MemoryBytes int64  `json:"memory_bytes"`
	OS          string `json:"os"`
	Arch        string `json:"arch"`
	GoVersion   string `json:"go_version"`
}

// Target is the system under test.
type Target struct {
	Kind     string            `json:"kind"` // embedded | containers | external
	Note     string            `json:"note,omitempty"`
	Topology map[string]string `json:"topology,omitempty"` // e.g. broker=mosquitto, kafka_brokers=3, replication_factor=3
	// ClockNote says how stage timestamps relate to one another (one host clock, or taps on the harness host).
	ClockNote string `json:"clock_note,omitempty"`
}

// Phase is a named part of the schedule, in seconds since the run started.
type Phase struct {
	Name   string  `json:"name"`
	StartS float64 `json:"start_s"`
	EndS   float64 `json:"end_s"`
}

// Interval is one 1-second snapshot. Counts are for that second only.
type Interval struct {
	StartS      float64 `json:"start_s"` // seconds since the run started
	Offered     int64   `json:"offered"` // messages whose intended time fell in this second
	Errors      int64   `json:"errors"`
	Connections int64   `json:"connections"` // open device connections at the end of the second
	GenLagP99Us int64   `json:"gen_lag_p99_us"`
	// GenLagHDR is this second's generator-lag histogram (base64 V2-compressed),
	// so merged segments recompute GenLagP99Us instead of averaging it.
	GenLagHDR string                   `json:"gen_lag_hdr,omitempty"`
	Stages    map[string]IntervalStage `json:"stages"` // by stage name; "sent" and "acked" included
}

// IntervalStage is one stage in one interval: latency = observed − intended.
type IntervalStage struct {
	Delivered int64 `json:"delivered"`
	P50Us     int64 `json:"p50_us"`
	P99Us     int64 `json:"p99_us"`
	MaxUs     int64 `json:"max_us"`
	// LatencyHDR is this interval's latency histogram, base64 V2-compressed, for .hlog export.
	LatencyHDR string `json:"latency_hdr,omitempty"`
	// By intended second (the messages due in this second): how many the stage
	// should see, how many it never saw and how many it saw within the
	// availability deadline. Availability over time is OnTime / Expected.
	Expected int64 `json:"expected,omitempty"`
	Lost     int64 `json:"lost,omitempty"`
	OnTime   int64 `json:"on_time,omitempty"`
	// Duplicated counts repeat sightings that arrived in this second.
	Duplicated int64 `json:"duplicated,omitempty"`
}

// Quantiles summarises one histogram in µs.
type Quantiles struct {
	Count   int64   `json:"count"`
	MinUs   int64   `json:"min_us"`
	MeanUs  float64 `json:"mean_us"`
	P50Us   int64   `json:"p50_us"`
	P90Us   int64   `json:"p90_us"`
	P99Us   int64   `json:"p99_us"`
	P999Us  int64   `json:"p99_9_us"`
	P9999Us int64   `json:"p99_99_us"`
	MaxUs   int64   `json:"max_us"`
}

// StageSummary is one stage over the measured window.
type StageSummary struct {
	Stage string `json:"stage"`
	// Latency is observed − intended (coordinated-omission free, the headline);
	// ServiceTime is observed − sent (what closed-loop tools report).
	Latency        Quantiles `json:"latency"`
	ServiceTime    Quantiles `json:"service_time"`
	LatencyHDR     string    `json:"latency_hdr,omitempty"`
	ServiceTimeHDR string    `json:"service_time_hdr,omitempty"`
	Delivery       Delivery  `json:"delivery"`
	// Sampled is true when the stage observes only a sample of messages (the API poll).
	Sampled bool `json:"sampled,omitempty"`
	// RatePerS, for closed-loop (burst) runs, is delivered / (the stage's last
	// observation − the run's first send): for the store stage, stored messages
	// per second, the figure the alert-based testbench paper reports.
	RatePerS float64 `json:"rate_per_s,omitempty"`
	// BytesPerMessage is the mean size of what the stage delivered, where it is
	// measured: the payloads devices sent (sent) and the column values of the
	// stored rows (store, see store.Row.ValueBytes); warm-up included.
	BytesPerMessage float64 `json:"bytes_per_message,omitempty"`
	// SizedMessages is how many messages BytesPerMessage averages over, so the
	// segments of one run can be merged exactly (a weighted mean).
	SizedMessages int64  `json:"sized_messages,omitempty"`
	Note          string `json:"note,omitempty"`
}

// Delivery is the accounting of one stage, from (device, seq).
type Delivery struct {
	Expected   int64 `json:"expected"`
	Delivered  int64 `json:"delivered"` // distinct (device, seq) seen
	Lost       int64 `json:"lost"`      // confirmed absent: the tap looked and they were not there
	Duplicated int64 `json:"duplicated"`
	// Unverified counts messages the tap could not check (its reads kept failing
	// until the drain deadline, or it was unavailable when they passed): neither
	// delivered nor lost. Expected = Delivered + Lost + Unverified.
	Unverified int64 `json:"unverified,omitempty"`
	Reordered  int64 `json:"reordered"`
	// Negative counts observations earlier than their intended time (clock skew); they are kept, never dropped.
	Negative int64 `json:"negative,omitempty"`
	// WithinDeadline counts deliveries whose latency met the availability deadline.
	WithinDeadline int64   `json:"within_deadline"`
	Availability   float64 `json:"availability"` // WithinDeadline / (Expected − Unverified)
}

// SetAvailability computes Availability over the messages the tap could check:
// an unverified message is evidence of nothing, either way.
func (d *Delivery) SetAvailability() {
	d.Availability = 0
	if checked := d.Expected - d.Unverified; checked > 0 {
		d.Availability = float64(d.WithinDeadline) / float64(checked)
	}
}

// FaultEvent is something done to the system under test during the run: the
// action was issued at AtS, returned at ActedS and the fault healed at EndS
// (seconds since the run started).
type FaultEvent struct {
	AtS    float64 `json:"at_s"`
	ActedS float64 `json:"acted_s,omitempty"`
	EndS   float64 `json:"end_s,omitempty"`
	Kind   string  `json:"kind"`
	Target string  `json:"target"`
	// Component is the instance acted on (kafka-2 for target kafka-leader).
	Component string `json:"component,omitempty"`
	Detail    string `json:"detail,omitempty"`
	// Error says why the action or its heal failed; the figures then do not describe the fault.
	Error string `json:"error,omitempty"`
	// Stages is what the fault did to each stage (see harness/recovery).
	Stages []FaultImpact `json:"stages,omitempty"`
}

// FaultImpact is one fault's effect on one stage, from the interval series.
// Times are seconds since the run started; the window is from the fault's
// start to the stage's recovery (or the end of the series).
type FaultImpact struct {
	Stage string `json:"stage"`
	// BaselineP50Us is the median 1-second p50 latency in the 10 s before the
	// fault; ThresholdUs is the band a second's p50 must stay within to count as
	// recovered.
	BaselineP50Us int64 `json:"baseline_p50_us"`
	ThresholdUs   int64 `json:"threshold_us"`
	// Impacted is false when no second after the fault left the band.
	Impacted     bool    `json:"impacted"`
	ImpactStartS float64 `json:"impact_start_s,omitempty"`
	ImpactEndS   float64 `json:"impact_end_s,omitempty"`
	// RecoveryS is from the fault's start until a sliding window of seconds is
	// back within the band; Recovered is false when that never happened before
	// the series ended (RecoveryS then runs to the end).
	RecoveryS float64 `json:"recovery_s"`
	Recovered bool    `json:"recovered"`
	// UnavailableS counts seconds in the window in which the stage delivered
	// nothing within the availability deadline.
	UnavailableS float64 `json:"unavailable_s"`
	// Messages intended inside the window: expected, delivered after the
	// deadline, never delivered; duplicates that arrived in it.
	Expected     int64   `json:"expected"`
	Delayed      int64   `json:"delayed"`
	Lost         int64   `json:"lost"`
	Duplicated   int64   `json:"duplicated"`
	Availability float64 `json:"availability"`
}

// TapOutage is a span, in seconds since the run started, when a tap could not
// observe its stage.
type TapOutage struct {
	Tap    string  `json:"tap"` // the stage the tap observes
	FromS  float64 `json:"from_s"`
	ToS    float64 `json:"to_s"`
	Reason string  `json:"reason"`
	// Open is true when the tap was still unavailable when it stopped (ToS is then the stop).
	Open bool `json:"open,omitempty"`
}

// SLOVerdict is one threshold checked against the run.
type SLOVerdict struct {
	Expr      string  `json:"expr"` // as written in the scenario, e.g. "store.latency.p99 < 500ms"
	Observed  float64 `json:"observed"`
	Threshold float64 `json:"threshold"`
	Unit      string  `json:"unit,omitempty"`
	Pass      bool    `json:"pass"`
	// Note says why a verdict could not be judged on data (e.g. the stage was not
	// measured: then Pass is false) or what qualifies it (a sampled stage).
	Note string `json:"note,omitempty"`
}

// ResourceSample is one component's resource use at one moment.
type ResourceSample struct {
	AtS         float64 `json:"at_s"`
	Component   string  `json:"component"`
	CPUPercent  float64 `json:"cpu_percent"` // 100 = one core
	MemoryBytes int64   `json:"memory_bytes"`
}

// HasFlag reports whether r carries flag.
func (r *Result) HasFlag(flag string) bool {
	for _, f := range r.Flags {
		if f == flag {
			return true
		}
	}
	return false
}

// Stage returns the summary of the named stage, or nil.
func (r *Result) Stage(name string) *StageSummary {
	for i := range r.Stages {
		if r.Stages[i].Stage == name {
			return &r.Stages[i]
		}
	}
	return nil
}

// Load reads a result.json.
func Load(path string) (*Result, error) {
	var r Result
	if err := loadJSON(path, "result", &r); err != nil {
		return nil, err
	}
	if r.SchemaVersion != SchemaVersion {
		return nil, fmt.Errorf("result %s has schema version %d, this citybench reads %d", path, r.SchemaVersion, SchemaVersion)
	}
	return &r, nil
}

// Save writes r as indented JSON to path, atomically.
func (r *Result) Save(path string) error { return saveJSON(path, "result", r) }

// loadJSON reads path into v; what names the file in errors.
func loadJSON(path, what string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", what, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("parse %s %s: %w", what, path, err)
	}
	return nil
}

// saveJSON writes v as indented JSON to path through a temporary file, so a
// reader never sees half a file.
func saveJSON(path, what string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", what, err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", what, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", what, err)
	}
	return nil
}
