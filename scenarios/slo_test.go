package scenarios

import (
	"strings"
	"testing"
)

func TestParseSLO(t *testing.T) {
	tests := []struct {
		expr      string
		stage     string
		metric    string
		stat      string
		op        string
		threshold float64
		unit      string
	}{
		{"store.latency.p99 < 500ms", StageStore, MetricLatency, "p99", "<", 500_000, UnitMicroseconds},
		{"kafka.latency.p99.9 <= 2s", StageKafka, MetricLatency, "p99.9", "<=", 2_000_000, UnitMicroseconds},
		{"api.latency.p99.99<=1m", StageAPI, MetricLatency, "p99.99", "<=", 60_000_000, UnitMicroseconds},
		{"store.service_time.p50 < 50ms", StageStore, MetricServiceTime, "p50", "<", 50_000, UnitMicroseconds},
		{"broker.latency.max < 1.5s", StageBroker, MetricLatency, "max", "<", 1_500_000, UnitMicroseconds},
		{"store.loss == 0", StageStore, MetricLoss, "", "==", 0, UnitMessages},
		{"store.loss_ratio < 0.001", StageStore, MetricLossRatio, "", "<", 0.001, UnitRatio},
		{"broker.duplicates == 0", StageBroker, MetricDuplicates, "", "==", 0, UnitMessages},
		{"kafka.reordered != 5", StageKafka, MetricReordered, "", "!=", 5, UnitMessages},
		{"store.availability >= 0.999", StageStore, MetricAvailability, "", ">=", 0.999, UnitRatio},
		{"store.availability >= 99.5%", StageStore, MetricAvailability, "", ">=", 0.995, UnitRatio},
		{"sent.throughput >= 900", StageSent, MetricThroughput, "", ">=", 900, UnitPerSecond},
		{"acked.throughput > 900/s", StageAcked, MetricThroughput, "", ">", 900, UnitPerSecond},
		{"store.delivered >= 1000", StageStore, MetricDelivered, "", ">=", 1000, UnitMessages},
		{"generator_lag.p99 < 100ms", "", MetricGeneratorLag, "p99", "<", 100_000, UnitMicroseconds},
		{"  generator_lag.mean   <   0 ", "", MetricGeneratorLag, "mean", "<", 0, UnitMicroseconds},
		{"malformed.stored == 0", SubjectMalformed, MetricStored, "", "==", 0, UnitMessages},
		{"malformed.dead_lettered_ratio >= 99%", SubjectMalformed, MetricDeadLetteredRatio, "", ">=", 0.99, UnitRatio},
		{"malformed.oversize.missing == 0", SubjectMalformed, MetricMissing, "", "==", 0, UnitMessages},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			s, err := ParseSLO(tt.expr)
			if err != nil {
				t.Fatalf("ParseSLO: %v", err)
			}
			if s.Expr != tt.expr || s.Stage != tt.stage || s.Metric != tt.metric || s.Stat != tt.stat || s.Op != tt.op || s.Unit() != tt.unit {
				t.Errorf("got %+v unit %s", s, s.Unit())
			}
			if diff := s.Threshold - tt.threshold; diff > 1e-9 || diff < -1e-9 {
				t.Errorf("threshold %v, want %v", s.Threshold, tt.threshold)
			}
		})
	}
}

func TestParseSLOErrors(t *testing.T) {
	tests := []struct{ expr, want string }{
		{"", "no comparison"},
		{"store.loss", "no comparison"},
		{"store.loss =< 0", "unknown comparison"},
		{"store.loss ! 0", "unknown comparison"},
		{"< 5", "nothing to compare"},
		{"storage.loss == 0", `unknown stage "storage"`},
		{"store == 0", "needs a metric"},
		{"malformed.garbled.stored == 0", `unknown malformed kind "garbled"`},
		{"malformed.latency == 0", `unknown malformed metric "latency"`},
		{"store.speed > 1", `unknown metric "speed"`},
		{"store.latency < 1s", "needs a statistic"},
		{"store.latency.p95 < 1s", `unknown statistic "p95"`},
		{"store.loss.p99 == 0", "takes no statistic"},
		{"sent.service_time.p99 < 1s", "always 0"},
		{"generator_lag < 1s", "needs a statistic"},
		{"generator_lag.p99 < 100", "want a non-negative duration"},
		{"store.latency.p99 < -1s", "want a non-negative duration"},
		{"store.latency.p99 <", "no threshold"},
		{"store.loss_ratio < 2", "between 0 and 1"},
		{"store.availability > 101%", "between 0 and 1"},
		{"store.loss == NaN", "non-negative count"},
		{"store.loss == -1", "non-negative count"},
		{"sent.throughput >= Inf", "messages per second"},
		{"sent.throughput >= fast", "messages per second"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			_, err := ParseSLO(tt.expr)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseSLO(%q) = %v, want error containing %q", tt.expr, err, tt.want)
			}
		})
	}
}

func TestSLOHolds(t *testing.T) {
	tests := []struct {
		op       string
		observed float64
		want     bool
	}{
		{"<", 4, true}, {"<", 5, false},
		{"<=", 5, true}, {"<=", 6, false},
		{">", 6, true}, {">", 5, false},
		{">=", 5, true}, {">=", 4, false},
		{"==", 5, true}, {"==", 4, false},
		{"!=", 4, true}, {"!=", 5, false},
	}
	for _, tt := range tests {
		s := SLO{Op: tt.op, Threshold: 5}
		if got := s.Holds(tt.observed); got != tt.want {
			t.Errorf("%v %s 5 = %v, want %v", tt.observed, tt.op, got, tt.want)
		}
	}
}
