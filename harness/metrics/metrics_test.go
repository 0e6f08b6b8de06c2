package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/citybench/citybench/reports/result"
)

// TestSeriesFollowConventions lints every series a snapshot produces with
// Prometheus's own linter (units in names, _total counters, no camel case) and
// checks the values come from the snapshot.
func TestSeriesFollowConventions(t *testing.T) {
	e := &Exporter{info: Info{Scenario: "smoke", Target: "embedded"}}
	c := collector{e}
	if n := testutil.CollectAndCount(c); n != 1 {
		t.Errorf("before the first snapshot: %d series, want citybench_run_info only", n)
	}
	e.Update(Snapshot{ElapsedS: 3, PlannedS: 10, Offered: 120, Connections: 40, Errors: 1,
		Stages: []Stage{
			{Name: result.StageSent, Delivered: 100},
			{Name: result.StageBroker, Delivered: 90, LastSecond: result.Quantiles{Count: 40, P50Us: 1500, P90Us: 2000, P99Us: 4000, MaxUs: 9000},
				LatencyCount: 90, LatencySumS: 0.25},
			{Name: result.StageAPI, Delivered: 2, Partial: true},
		},
		Commands: &Commands{Planned: 50, Sent: 10, Delivered: 9, Acked: 8}})
	problems, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint %s: %s", p.Metric, p.Text)
	}
	want := `
# HELP citybench_stage_lag_messages Messages sent but not yet seen by the stage: the pipeline's backlog up to it.
# TYPE citybench_stage_lag_messages gauge
citybench_stage_lag_messages{stage="broker"} 10
# HELP citybench_generator_backlog_messages Messages due but not yet sent: a growing value means the generator is falling behind.
# TYPE citybench_generator_backlog_messages gauge
citybench_generator_backlog_messages 20
# HELP citybench_commands_total Downlink commands per command stage (command_sent, command_delivered: received by the device, command_acked: its acknowledgement seen).
# TYPE citybench_commands_total counter
citybench_commands_total{stage="command_acked"} 8
citybench_commands_total{stage="command_delivered"} 9
citybench_commands_total{stage="command_sent"} 10
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "citybench_stage_lag_messages", "citybench_generator_backlog_messages", "citybench_commands_total"); err != nil {
		t.Error(err)
	}
	lat := `
# HELP citybench_stage_latency_seconds Latency (observed − intended send time) per stage: quantiles (1 = max) over the last second, none in a second without deliveries; _sum and _count over the run so far.
# TYPE citybench_stage_latency_seconds summary
citybench_stage_latency_seconds{stage="broker",quantile="0.5"} 0.0015
citybench_stage_latency_seconds{stage="broker",quantile="0.9"} 0.002
citybench_stage_latency_seconds{stage="broker",quantile="0.99"} 0.004
citybench_stage_latency_seconds{stage="broker",quantile="1"} 0.009
citybench_stage_latency_seconds_sum{stage="broker"} 0.25
citybench_stage_latency_seconds_count{stage="broker"} 90
citybench_stage_latency_seconds_sum{stage="api"} 0
citybench_stage_latency_seconds_count{stage="api"} 0
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(lat), "citybench_stage_latency_seconds"); err != nil {
		t.Error(err)
	}
}
