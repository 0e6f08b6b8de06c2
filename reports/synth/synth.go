// Package synth builds realistic synthetic results (with real encoded HDR
// histograms) so report, export and compare code can be tested before, and
// alongside, results recorded by the harness. It stands in for the harness, so it
// judges SLOs with the harness's own evaluator: a synthetic result has no shape a
// real one could not have.
package synth

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/citybench/citybench/harness/slo"
	"github.com/citybench/citybench/harness/target/embedded"
	"github.com/citybench/citybench/reports/result"
	"github.com/citybench/citybench/scenarios"
)

// Range of every histogram, in µs: 1 µs to 1 h at 3 significant digits, as the harness records.
const (
	hdrLow    = 1
	hdrHigh   = int64(time.Hour / time.Microsecond)
	hdrDigits = 3
)

// stageModel is the latency of one stage as a log-normal around a median.
type stageModel struct {
	name        string
	medianUs    float64
	sigma       float64
	sampleEvery int // observe only every n-th message (the API poll is sampled)
}

var models = []stageModel{
	{name: result.StageSent, medianUs: 150, sigma: 0.5, sampleEvery: 1},
	{name: result.StageAcked, medianUs: 1500, sigma: 0.6, sampleEvery: 1},
	{name: result.StageBroker, medianUs: 1100, sigma: 0.6, sampleEvery: 1},
	{name: result.StageKafka, medianUs: 8000, sigma: 0.7, sampleEvery: 1},
	{name: result.StageStore, medianUs: 15000, sigma: 0.7, sampleEvery: 1},
	{name: result.StageAPI, medianUs: 450000, sigma: 0.4, sampleEvery: 10},
}

type config struct {
	seed       uint64
	durationS  int
	warmupS    int
	rate       int // messages per second offered
	tailQ      float64
	tailFactor float64
	runJitter  float64
	resources  bool
	fault      bool
}

// Option changes how a synthetic result is generated.
type Option func(*config)

// WithSeed sets the random seed; different seeds model repeated runs of one build.
func WithSeed(seed uint64) Option { return func(c *config) { c.seed = seed } }

// WithDuration sets the run length and the warm-up, in seconds.
func WithDuration(durationS, warmupS int) Option {
	return func(c *config) { c.durationS, c.warmupS = durationS, warmupS }
}

// WithRate sets the offered messages per second.
func WithRate(perSecond int) Option { return func(c *config) { c.rate = perSecond } }

// WithTailRegression multiplies every latency above quantile q of the healthy
// distribution by factor: it plants a tail (p99) regression while the median stays put.
func WithTailRegression(q, factor float64) Option {
	return func(c *config) { c.tailQ, c.tailFactor = q, factor }
}

// WithoutFault runs steadily, as a CI benchmark does: no broker pause, no losses.
func WithoutFault() Option { return func(c *config) { c.fault = false } }

// WithoutResources leaves result.Resources empty, as for the external target.
func WithoutResources() Option { return func(c *config) { c.resources = false } }

// Result generates one synthetic run.
func Result(opts ...Option) (*result.Result, error) {
	c := config{seed: 1, durationS: 40, warmupS: 5, rate: 300, tailQ: 1, tailFactor: 1, runJitter: 0.03, resources: true, fault: true}
	for _, o := range opts {
		o(&c)
	}
	rng := rand.New(rand.NewPCG(c.seed, c.seed^0x9e3779b97f4a7c15))
	// Repeated runs of one build differ a little as a whole (machine noise), not only by sampling.
	runShift := 1 + c.runJitter*rng.NormFloat64()
	tailZ := math.Inf(1)
	if c.tailQ < 1 {
		tailZ = normQuantile(c.tailQ)
	}

	// The embedded target describes itself as on a real run; it is never started.
	tgt, err := embedded.New(&scenarios.Scenario{Fleets: []scenarios.Fleet{{Codec: scenarios.CodecJSON}}}, nil)
	if err != nil {
		return nil, fmt.Errorf("synthetic target: %w", err)
	}
	start := time.Date(2026, 11, 21, 23, 0, 0, 0, time.UTC)
	r := &result.Result{
		SchemaVersion: result.SchemaVersion,
		Meta: result.Meta{
			Scenario:         "synthetic-city",
			ScenarioFile:     "scenarios/synthetic-city.yaml",
			ScenarioHash:     "3f2a9c0d5e7b41a8",
			Description:      "300 sensors, 1 msg/s each, QoS 1, broker pause fault",
			Seed:             int64(c.seed),
			GitRevision:      "0123abcd",
			CitybenchVersion: "dev",
			Components:       tgt.Components(),
			Machine:          result.Machine{CPUModel: "Synthetic CPU @ 2.0GHz", Cores: 2, MemoryBytes: 24 << 30, OS: "linux", Arch: "amd64", GoVersion: "go1.26"},
			Target:           tgt.Describe(),
			StartedAt:        start,
			EndedAt:          start.Add(time.Duration(c.durationS) * time.Second),
			MeasuredFromS:    float64(c.warmupS),
			DurationS:        float64(c.durationS - c.warmupS), // the measured window, as the harness writes it
			Devices:          c.rate,
			QoS:              []int{1},
		},
		Flags: []string{result.FlagEmbedded},
		Phases: []result.Phase{
			{Name: "warm-up", StartS: 0, EndS: float64(c.warmupS)},
			{Name: "steady", StartS: float64(c.warmupS), EndS: float64(c.durationS) * 0.6},
			{Name: "fault", StartS: float64(c.durationS) * 0.6, EndS: float64(c.durationS) * 0.8},
			{Name: "recovery", StartS: float64(c.durationS) * 0.8, EndS: float64(c.durationS)},
		},
		Faults: []result.FaultEvent{{
			AtS: float64(c.durationS) * 0.6, EndS: float64(c.durationS)*0.6 + 3,
			Kind: "pause", Target: "broker", Detail: "broker paused for 3 s",
		}},
		Counters: map[string]int64{"broker_inflight_dropped": 0, "dead_lettered": 0, "errors": 2},
	}

	summaryLat := make([]*hdrhistogram.Histogram, len(models))
	summarySvc := make([]*hdrhistogram.Histogram, len(models))
	lag := newHist()
	delivered := make([]int64, len(models))
	expected := make([]int64, len(models))
	for i := range models {
		summaryLat[i], summarySvc[i] = newHist(), newHist()
	}
	faultAt, faultEnd := r.Faults[0].AtS, r.Faults[0].EndS
	// Interval histograms are reused: a 1 µs–1 h histogram is a few hundred KB.
	ivHists := make([]*hdrhistogram.Histogram, len(models))
	for i := range models {
		ivHists[i] = newHist()
	}
	ivLag := newHist()

	for sec := 0; sec < c.durationS; sec++ {
		iv := result.Interval{StartS: float64(sec), Offered: int64(c.rate), Connections: int64(c.rate), Stages: map[string]result.IntervalStage{}}
		if sec < 2 { // devices connect in waves
			iv.Connections = int64(c.rate * (sec + 1) / 3)
		}
		inFault := c.fault && float64(sec) >= faultAt && float64(sec) < faultEnd
		measured := sec >= c.warmupS
		for _, h := range ivHists {
			h.Reset()
		}
		ivLag.Reset()
		for m := 0; m < c.rate; m++ {
			z0 := rng.NormFloat64()
			genLag := models[0].medianUs * runShift * math.Exp(models[0].sigma*z0)
			_ = ivLag.RecordValue(clampUs(genLag))
			if measured {
				_ = lag.RecordValue(clampUs(genLag))
			}
			cum := genLag
			for i, sm := range models {
				var lat float64
				if i == 0 {
					lat = genLag
				} else {
					z := rng.NormFloat64()
					lat = sm.medianUs * runShift * math.Exp(sm.sigma*z)
					if z > tailZ {
						lat *= c.tailFactor
					}
					if inFault && i >= 2 { // a paused broker holds everything downstream
						lat += float64(faultEnd-float64(sec)) * 1e6 * rng.Float64()
					}
					if i >= 3 && lat < cum { // downstream never sees a message before upstream does
						lat = cum + lat*0.1
					}
				}
				if i != 1 { // acked is a side branch off sent
					cum = lat
				}
				if sm.sampleEvery > 1 && m%sm.sampleEvery != 0 {
					continue
				}
				if inFault && i >= 1 && rng.Float64() < 0.002 { // a few messages lost in the fault
					if measured {
						expected[i]++
					}
					iv.Errors++
					continue
				}
				v := clampUs(lat)
				_ = ivHists[i].RecordValue(v)
				if measured {
					expected[i]++
					delivered[i]++
					_ = summaryLat[i].RecordValue(v)
					_ = summarySvc[i].RecordValue(clampUs(lat - genLag))
				}
			}
		}
		iv.GenLagP99Us = ivLag.ValueAtQuantile(99)
		for i, sm := range models {
			enc, err := encode(ivHists[i])
			if err != nil {
				return nil, err
			}
			iv.Stages[sm.name] = result.IntervalStage{
				Delivered:  ivHists[i].TotalCount(),
				P50Us:      ivHists[i].ValueAtQuantile(50),
				P99Us:      ivHists[i].ValueAtQuantile(99),
				MaxUs:      ivHists[i].Max(),
				LatencyHDR: enc,
			}
		}
		r.Intervals = append(r.Intervals, iv)
		if c.resources {
			for j, comp := range []string{"broker", "kafka", "sink"} {
				r.Resources = append(r.Resources, result.ResourceSample{
					AtS: float64(sec), Component: comp,
					CPUPercent:  float64(20+15*j) + 5*rng.Float64(),
					MemoryBytes: int64(80+40*j)<<20 + int64(sec)<<18,
				})
			}
		}
	}

	for i, sm := range models {
		latEnc, err := encode(summaryLat[i])
		if err != nil {
			return nil, err
		}
		svcEnc, err := encode(summarySvc[i])
		if err != nil {
			return nil, err
		}
		d := result.Delivery{Expected: expected[i], Delivered: delivered[i], Lost: expected[i] - delivered[i]}
		d.WithinDeadline = delivered[i] - summaryLat[i].TotalCount()/200 // about 0.5 % miss the deadline
		if d.Expected > 0 {
			d.Availability = float64(d.WithinDeadline) / float64(d.Expected)
		}
		r.Stages = append(r.Stages, result.StageSummary{
			Stage: sm.name, Latency: Quantiles(summaryLat[i]), ServiceTime: Quantiles(summarySvc[i]),
			LatencyHDR: latEnc, ServiceTimeHDR: svcEnc, Delivery: d, Sampled: sm.sampleEvery > 1,
		})
	}
	r.GeneratorLag = Quantiles(lag)
	lagEnc, err := encode(lag)
	if err != nil {
		return nil, err
	}
	r.GeneratorLagHDR = lagEnc
	// Verdicts come from the harness's own parser and evaluator, so their units and
	// figures have the shape a real run's have.
	slos, err := (&scenarios.Scenario{SLOs: SLOs}).ParseSLOs()
	if err != nil {
		return nil, fmt.Errorf("synthetic SLOs: %w", err)
	}
	r.SLOs = slo.Evaluate(slos, r)
	return r, nil
}

// SLOs are the thresholds every synthetic result is judged on, as a scenario
// would write them.
var SLOs = []string{
	"store.latency.p99 < 500ms",
	"store.loss_ratio < 0.1%",
	"store.availability >= 99%",
	"generator_lag.p99 < 100ms",
}

// Quantiles summarises h the way the harness does.
func Quantiles(h *hdrhistogram.Histogram) result.Quantiles {
	if h.TotalCount() == 0 {
		return result.Quantiles{}
	}
	return result.Quantiles{
		Count: h.TotalCount(), MinUs: h.Min(), MeanUs: h.Mean(),
		P50Us: h.ValueAtQuantile(50), P90Us: h.ValueAtQuantile(90), P99Us: h.ValueAtQuantile(99),
		P999Us: h.ValueAtQuantile(99.9), P9999Us: h.ValueAtQuantile(99.99), MaxUs: h.Max(),
	}
}

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(hdrLow, hdrHigh, hdrDigits) }

func encode(h *hdrhistogram.Histogram) (string, error) {
	b, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		return "", fmt.Errorf("encode histogram: %w", err)
	}
	return string(b), nil
}

func clampUs(v float64) int64 {
	return int64(math.Max(1, math.Min(v, float64(hdrHigh))))
}

// normQuantile is the standard normal quantile function (bisection is plenty for tests).
func normQuantile(q float64) float64 {
	lo, hi := -10.0, 10.0
	for range 100 {
		mid := (lo + hi) / 2
		if 0.5*math.Erfc(-mid/math.Sqrt2) < q {
			lo = mid
		} else {
			hi = mid
		}
	}
	return (lo + hi) / 2
}
