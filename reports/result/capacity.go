package result

import "fmt"

// CapacitySchemaVersion changes whenever a capacity.json field changes meaning.
const CapacitySchemaVersion = 1

// Capacity is the whole of capacity.json: what `citybench capacity` found.
type Capacity struct {
	SchemaVersion int    `json:"schema_version"`
	Scenario      string `json:"scenario"`
	ScenarioFile  string `json:"scenario_file,omitempty"`
	Target        Target `json:"target"`
	// By is what was scaled: "rate" (every fleet's rate) or "devices" (every fleet's device count).
	By string `json:"by"`
	// BaseRate is the scenario's own offered rate (msgs/s) at scale 1.
	BaseRate float64 `json:"base_rate"`
	// MaxSustainableRate is the highest offered rate (msgs/s) that passed, confirmed
	// by the longer hold when Confirmed; 0 when no step passed.
	MaxSustainableRate float64 `json:"max_sustainable_rate"`
	Confirmed          bool    `json:"confirmed"`
	// Confidence is the bracket the answer lies in: the highest passing and the
	// lowest failing rate (Fail 0: no step failed up to the --max-rate).
	Confidence   Bracket  `json:"confidence"`
	NonMonotonic bool     `json:"non_monotonic"`
	Notes        []string `json:"notes,omitempty"`
	// Stopped says why the search ended (converged, max-rate, generator, interrupted, no-pass, budget).
	Stopped    string      `json:"stopped"`
	Bottleneck Bottleneck  `json:"bottleneck"`
	Steps      []StepEntry `json:"steps"`
	City       []CityFleet `json:"city,omitempty"`
	Storage    *Storage    `json:"storage,omitempty"`
	Partial    bool        `json:"partial,omitempty"`
	// Criteria are the pass rules every step was judged by, in words.
	Criteria []string `json:"criteria"`
}

// Bracket is a pass/fail pair of rates in msgs/s.
type Bracket struct {
	Pass float64 `json:"pass"`
	Fail float64 `json:"fail"`
}

// Bottleneck names the component that gave out first, with the figures that say so.
type Bottleneck struct {
	Component string   `json:"component"`
	Stage     string   `json:"stage,omitempty"` // the first stage whose backlog or latency grew
	Evidence  []string `json:"evidence"`
}

// StepEntry is one step of the search.
type StepEntry struct {
	Index int    `json:"index"`
	Kind  string `json:"kind"` // settle, bracket, bisect, confirm
	// Rate is the offered rate asked for; OfferedRate what the plan offered; DeliveredRate what reached the last measured stage.
	Rate          float64 `json:"rate"`
	OfferedRate   float64 `json:"offered_rate"`
	DeliveredRate float64 `json:"delivered_rate"`
	HoldS         float64 `json:"hold_s"`
	Devices       int     `json:"devices"`
	Pass          bool    `json:"pass"`
	// Reasons say why a step failed (empty when it passed).
	Reasons            []string         `json:"reasons,omitempty"`
	Stages             []StepStage      `json:"stages"`
	SLOs               []SLOVerdict     `json:"slos,omitempty"`
	GeneratorSaturated bool             `json:"generator_saturated"`
	Resources          []ComponentUse   `json:"resources,omitempty"`
	Counters           map[string]int64 `json:"counters,omitempty"`
	// HostLoad is the host's 1-minute load average at the end of the step, and
	// HostCores its cores: figures taken on a busy host say so.
	HostLoad  float64 `json:"host_load1,omitempty"`
	HostCores int     `json:"host_cores,omitempty"`
	// HostCPU is what every process on the host used during the hold (100 = one
	// core; 0: not measured), OtherCPU the part of it outside the harness and
	// the target's components: what other work on a shared host took.
	HostCPU  float64 `json:"host_cpu_percent,omitempty"`
	OtherCPU float64 `json:"other_cpu_percent,omitempty"`
	// Repeated says the search ran this step again (its verdict was
	// inconclusive: a busy host, a brief generator lag); the later run counts.
	Repeated   bool   `json:"repeated,omitempty"`
	ResultFile string `json:"result_file,omitempty"` // relative to capacity.json
}

// StepStage is one stage in one step.
type StepStage struct {
	Stage         string  `json:"stage"`
	DeliveredRate float64 `json:"delivered_rate"` // msgs/s over the hold
	DeliveredPct  float64 `json:"delivered_pct"`  // delivered / expected × 100
	P50Us         int64   `json:"p50_us"`
	P99Us         int64   `json:"p99_us"`
	// BacklogSlope is the least-squares slope of (sent − delivered at this stage) over the hold, msgs/s: positive means the stage falls behind.
	BacklogSlope float64 `json:"backlog_slope"`
}

// ComponentUse is one component's resource use over a step's hold.
type ComponentUse struct {
	Component string  `json:"component"`
	CPUMean   float64 `json:"cpu_mean_percent"` // 100 = one core
	CPUMax    float64 `json:"cpu_max_percent"`
	// CPULimit is the component's CPU allowance in percent (100 = one core): its container limit or the host's cores.
	CPULimit   float64 `json:"cpu_limit_percent"`
	MemoryPeak int64   `json:"memory_peak_bytes"`
	// ThrottledPct is the mean share of CPU periods in which its limit held the
	// component back: a component at its quota, even when its mean CPU is below it.
	ThrottledPct float64 `json:"cpu_throttled_pct,omitempty"`
}

// CityFleet sizes one fleet at the knee.
type CityFleet struct {
	Fleet           string  `json:"fleet"`
	ScenarioDevices int     `json:"scenario_devices"`
	MsgsPerDeviceS  float64 `json:"msgs_per_device_s"` // at the scenario's own interval
	ShareOfLoad     float64 `json:"share_of_load"`     // this fleet's share of the scenario's offered messages
	// Devices is how many devices of this fleet the topology sustains at the scenario's interval,
	// with the other fleets scaled alongside in the scenario's proportions.
	Devices     int               `json:"devices"`
	AtIntervals []IntervalDevices `json:"at_intervals"`
}

// IntervalDevices is how many devices of a fleet fit at one reading interval.
type IntervalDevices struct {
	Interval string `json:"interval"`
	Devices  int    `json:"devices"`
}

// Storage sizes the store at the knee.
type Storage struct {
	BytesPerReading float64 `json:"bytes_per_reading"`
	// Method says how BytesPerReading was obtained (measured on the store, or an estimate).
	Method            string  `json:"method"`
	Estimate          bool    `json:"estimate"`
	Rows              int64   `json:"rows"`
	Bytes             int64   `json:"bytes"`
	ReplicationFactor int     `json:"replication_factor"`
	Rate              float64 `json:"rate"` // msgs/s the day and year figures are for (the knee)
	PerDayBytes       float64 `json:"per_day_bytes"`
	PerYearBytes      float64 `json:"per_year_bytes"`
	// ScenarioPerDayBytes is the same at the scenario's own rate.
	ScenarioPerDayBytes  float64 `json:"scenario_per_day_bytes"`
	ScenarioPerYearBytes float64 `json:"scenario_per_year_bytes"`
}

// LoadCapacity reads a capacity.json.
func LoadCapacity(path string) (*Capacity, error) {
	var c Capacity
	if err := loadJSON(path, "capacity", &c); err != nil {
		return nil, err
	}
	if c.SchemaVersion != CapacitySchemaVersion {
		return nil, fmt.Errorf("capacity %s has schema version %d, this citybench reads %d", path, c.SchemaVersion, CapacitySchemaVersion)
	}
	return &c, nil
}

// Save writes c as indented JSON to path, atomically.
func (c *Capacity) Save(path string) error { return saveJSON(path, "capacity", c) }
