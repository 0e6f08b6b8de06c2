package scenarios

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/citybench/citybench/reports/result"
)

// Stage names an SLO may judge; they are the result's stages.
const (
	StageSent   = result.StageSent
	StageAcked  = result.StageAcked
	StageBroker = result.StageBroker
	StageKafka  = result.StageKafka
	StageStore  = result.StageStore
	StageAPI    = result.StageAPI
)

// SLO metrics.
const (
	MetricLatency      = "latency"       // observed − intended, per stage, with a Stat
	MetricServiceTime  = "service_time"  // observed − sent, per stage, with a Stat
	MetricGeneratorLag = "generator_lag" // sent − intended, run-wide, with a Stat
	MetricLoss         = "loss"          // messages never seen at the stage
	MetricLossRatio    = "loss_ratio"    // lost / expected
	MetricDuplicates   = "duplicates"
	MetricReordered    = "reordered"
	MetricDelivered    = "delivered"
	MetricAvailability = "availability"      // delivered within the deadline / expected
	MetricThroughput   = "throughput"        // delivered / measured duration, msgs/s
	MetricRate         = "rate"              // closed-loop runs: delivered / (last observation − first send), msgs/s
	MetricBytes        = "bytes_per_message" // sent: payload bytes; store: stored column bytes — per delivered message
	// Fault figures (harness/recovery), the worst over the run's faults.
	MetricRecoveryTime = "recovery_time" // fault start → latency back within the pre-fault baseline
	MetricUnavailable  = "unavailable"   // seconds without a delivery within the availability deadline
	// Malformed-message figures (result.Malformed), judged as malformed.<metric>
	// or malformed.<kind>.<metric>.
	MetricInjected          = "injected"            // malformed messages sent
	MetricDeadLettered      = "dead_lettered"       // of them, seen in the dead-letter topic
	MetricStored            = "stored"              // of them, found in the store
	MetricMissing           = "missing"             // of them, neither dead-lettered nor stored
	MetricDeadLetteredRatio = "dead_lettered_ratio" // dead_lettered / injected
)

// SubjectMalformed starts an SLO on the malformed messages: malformed.stored == 0.
const SubjectMalformed = "malformed"

// Units of SLO thresholds and observations; the result defines them.
const (
	UnitMicroseconds = result.UnitMicroseconds
	UnitRatio        = result.UnitRatio
	UnitMessages     = result.UnitMessages
	UnitPerSecond    = result.UnitPerSecond
	UnitBytes        = result.UnitBytes
)

// Stats a latency-like metric can be judged on: the quantiles a result keeps.
var latencyStats = []string{"min", "mean", "p50", "p90", "p99", "p99.9", "p99.99", "max"}

// SLO is one parsed threshold such as "store.latency.p99 < 500ms".
type SLO struct {
	Expr   string // as written
	Stage  string // one of the Stage constants; empty for generator_lag
	Metric string // one of the Metric constants
	Stat   string // for latency, service_time and generator_lag: p50, p99.9, max …
	Op     string // <, <=, >, >=, ==, !=
	// Kind narrows a malformed.<kind>.<metric> SLO to one malformed kind ("": all).
	Kind string
	// Threshold is in the metric's Unit: µs for times, a fraction for ratios,
	// a count, or msgs/s.
	Threshold float64
}

// Unit is the unit of Threshold and of the observed value.
func (s SLO) Unit() string {
	switch s.Metric {
	case MetricLatency, MetricServiceTime, MetricGeneratorLag, MetricRecoveryTime, MetricUnavailable:
		return UnitMicroseconds
	case MetricLossRatio, MetricAvailability, MetricDeadLetteredRatio:
		return UnitRatio
	case MetricThroughput, MetricRate:
		return UnitPerSecond
	case MetricBytes:
		return UnitBytes
	default:
		return UnitMessages
	}
}

// Holds reports whether observed satisfies the SLO.
func (s SLO) Holds(observed float64) bool {
	switch s.Op {
	case "<":
		return observed < s.Threshold
	case "<=":
		return observed <= s.Threshold
	case ">":
		return observed > s.Threshold
	case ">=":
		return observed >= s.Threshold
	case "==":
		return observed == s.Threshold
	case "!=":
		return observed != s.Threshold
	}
	return false
}

// ParseSLOs parses every SLO of the scenario.
func (s *Scenario) ParseSLOs() ([]SLO, error) {
	out := make([]SLO, 0, len(s.SLOs))
	for i, e := range s.SLOs {
		slo, err := ParseSLO(e)
		if err != nil {
			return nil, fmt.Errorf("slos[%d]: %w", i, err)
		}
		out = append(out, slo)
	}
	return out, nil
}

// Longest operators first, so "<=" is not read as "<".
var operators = []string{"<=", ">=", "==", "!=", "<", ">"}

// ParseSLO parses "<stage>.<metric>[.<stat>] <op> <threshold>" or
// "generator_lag.<stat> <op> <duration>".
func ParseSLO(expr string) (SLO, error) {
	slo := SLO{Expr: expr}
	at := strings.IndexAny(expr, "<>=!")
	if at < 0 {
		return slo, fmt.Errorf("SLO %q: no comparison (want <, <=, >, >=, == or !=)", expr)
	}
	for _, op := range operators {
		if strings.HasPrefix(expr[at:], op) {
			slo.Op = op
			break
		}
	}
	if slo.Op == "" {
		return slo, fmt.Errorf("SLO %q: unknown comparison at %q (want <, <=, >, >=, == or !=)", expr, expr[at:])
	}
	lhs := strings.TrimSpace(expr[:at])
	rhs := strings.TrimSpace(expr[at+len(slo.Op):])
	if err := slo.parseSubject(lhs); err != nil {
		return slo, fmt.Errorf("SLO %q: %w", expr, err)
	}
	if err := slo.parseThreshold(rhs); err != nil {
		return slo, fmt.Errorf("SLO %q: %w", expr, err)
	}
	return slo, nil
}

// ParseMeasure parses a figure of a result named as an SLO's left-hand side,
// e.g. "store.rate" or "store.latency.p99", for reports that tabulate it.
func ParseMeasure(subject string) (SLO, error) {
	s := SLO{Expr: subject}
	if err := s.parseSubject(strings.TrimSpace(subject)); err != nil {
		return s, fmt.Errorf("measure %q: %w", subject, err)
	}
	return s, nil
}

func (s *SLO) parseSubject(lhs string) error {
	if lhs == "" {
		return fmt.Errorf("nothing to compare before %q", s.Op)
	}
	if rest, ok := strings.CutPrefix(lhs, MetricGeneratorLag); ok {
		s.Metric = MetricGeneratorLag
		return s.parseStat(rest)
	}
	if rest, ok := strings.CutPrefix(lhs, SubjectMalformed+"."); ok {
		return s.parseMalformed(rest)
	}
	stage, rest, _ := strings.Cut(lhs, ".")
	if !isStage(stage) {
		return fmt.Errorf("unknown stage %q (want %s, generator_lag or malformed)", stage, strings.Join(result.Stages, ", "))
	}
	s.Stage = stage
	metric, stat, hasStat := strings.Cut(rest, ".")
	switch metric {
	case MetricLatency, MetricServiceTime:
		s.Metric = metric
		if metric == MetricServiceTime && stage == StageSent {
			return fmt.Errorf("service time is measured from sent, so sent.service_time is always 0; pick a later stage")
		}
		if !hasStat {
			return fmt.Errorf("%s.%s needs a statistic, e.g. %s.%s.p99", stage, metric, stage, metric)
		}
		return s.parseStat("." + stat)
	case MetricLoss, MetricLossRatio, MetricDuplicates, MetricReordered, MetricDelivered, MetricAvailability, MetricThroughput,
		MetricRate, MetricBytes, MetricRecoveryTime, MetricUnavailable:
		s.Metric = metric
		if hasStat {
			return fmt.Errorf("%s takes no statistic, got %q", metric, stat)
		}
		return nil
	case "":
		return fmt.Errorf("stage %q needs a metric, e.g. %s.latency.p99", stage, stage)
	default:
		return fmt.Errorf("unknown metric %q (want latency, service_time, loss, loss_ratio, duplicates, reordered, delivered, availability, throughput, rate, bytes_per_message, recovery_time or unavailable)", metric)
	}
}

// parseMalformed parses what follows "malformed.": a metric, or a kind and a metric.
func (s *SLO) parseMalformed(rest string) error {
	s.Stage = SubjectMalformed
	metric := rest
	if kind, m, ok := strings.Cut(rest, "."); ok {
		if !slices.Contains(MalformedKinds, kind) {
			return fmt.Errorf("unknown malformed kind %q (want one of %s)", kind, strings.Join(MalformedKinds, ", "))
		}
		s.Kind, metric = kind, m
	}
	switch metric {
	case MetricInjected, MetricDeadLettered, MetricStored, MetricMissing, MetricDeadLetteredRatio:
		s.Metric = metric
		return nil
	}
	return fmt.Errorf("unknown malformed metric %q (want %s, %s, %s, %s or %s)", metric,
		MetricInjected, MetricDeadLettered, MetricStored, MetricMissing, MetricDeadLetteredRatio)
}

func (s *SLO) parseStat(rest string) error {
	stat, ok := strings.CutPrefix(rest, ".")
	if !ok || stat == "" {
		return fmt.Errorf("%s needs a statistic, e.g. %s.p99", s.Metric, s.Metric)
	}
	for _, st := range latencyStats {
		if st == stat {
			s.Stat = stat
			return nil
		}
	}
	return fmt.Errorf("unknown statistic %q (want %s)", stat, strings.Join(latencyStats, ", "))
}

func isStage(name string) bool {
	for _, st := range result.Stages {
		if st == name {
			return true
		}
	}
	return false
}

func (s *SLO) parseThreshold(rhs string) error {
	if rhs == "" {
		return fmt.Errorf("no threshold after %q", s.Op)
	}
	switch s.Unit() {
	case UnitMicroseconds:
		if rhs == "0" {
			s.Threshold = 0
			return nil
		}
		d, err := time.ParseDuration(rhs)
		if err != nil || d < 0 {
			return fmt.Errorf("threshold %q: want a non-negative duration such as 500ms or 2s", rhs)
		}
		s.Threshold = float64(d) / float64(time.Microsecond)
		return nil
	case UnitRatio:
		pct := strings.HasSuffix(rhs, "%")
		x, err := parseNumber(strings.TrimSuffix(rhs, "%"))
		if err != nil {
			return fmt.Errorf("threshold %q: want a fraction such as 0.999 or a percentage such as 99.9%%", rhs)
		}
		if pct {
			x /= 100
		}
		if x < 0 || x > 1 {
			return fmt.Errorf("threshold %q: a ratio lies between 0 and 1 (or 0%% and 100%%)", rhs)
		}
		s.Threshold = x
		return nil
	case UnitPerSecond:
		num := strings.TrimSpace(strings.TrimSuffix(strings.TrimSuffix(rhs, "/s"), "msgs"))
		x, err := parseNumber(num)
		if err != nil || x < 0 {
			return fmt.Errorf("threshold %q: want messages per second such as 900 or 900/s", rhs)
		}
		s.Threshold = x
		return nil
	default:
		x, err := parseNumber(rhs)
		if err != nil || x < 0 {
			return fmt.Errorf("threshold %q: want a non-negative count", rhs)
		}
		s.Threshold = x
		return nil
	}
}

// parseNumber accepts finite decimal numbers only: "NaN" or "Inf" would make an
// SLO that can never (or always) pass.
func parseNumber(s string) (float64, error) {
	x, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return 0, err
	}
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0, fmt.Errorf("not a finite number")
	}
	return x, nil
}
