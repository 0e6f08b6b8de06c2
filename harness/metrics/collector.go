package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/citybench/citybench/reports/result"
)

// Series names and help, by Prometheus conventions: citybench_ prefix, base
// units in the name, _total on counters.
var (
	runInfo     = prometheus.NewDesc("citybench_run_info", "The run being measured (always 1).", []string{"scenario", "target"}, nil)
	elapsed     = prometheus.NewDesc("citybench_run_elapsed_seconds", "Time since the run's offset 0 (warm-up included).", nil, nil)
	planned     = prometheus.NewDesc("citybench_run_planned_seconds", "The run's planned load time, warm-up included.", nil, nil)
	offered     = prometheus.NewDesc("citybench_messages_offered_total", "Messages whose intended send time has passed.", nil, nil)
	delivered   = prometheus.NewDesc("citybench_stage_messages_total", "Distinct messages each stage has seen (sent: handed to the MQTT client; acked: PUBACK/PUBCOMP received; broker, kafka, store, api: seen by that stage's tap).", []string{"stage"}, nil)
	latency     = prometheus.NewDesc("citybench_stage_latency_seconds", "Latency (observed − intended send time) per stage: quantiles (1 = max) over the last second, none in a second without deliveries; _sum and _count over the run so far.", []string{"stage"}, nil)
	backlog     = prometheus.NewDesc("citybench_generator_backlog_messages", "Messages due but not yet sent: a growing value means the generator is falling behind.", nil, nil)
	stageLag    = prometheus.NewDesc("citybench_stage_lag_messages", "Messages sent but not yet seen by the stage: the pipeline's backlog up to it.", []string{"stage"}, nil)
	connections = prometheus.NewDesc("citybench_connections", "Device MQTT connections open.", nil, nil)
	errs        = prometheus.NewDesc("citybench_errors_total", "Device publish and connect failures.", nil, nil)
	commands    = prometheus.NewDesc("citybench_commands_total", "Downlink commands per command stage (command_sent, command_delivered: received by the device, command_acked: its acknowledgement seen).", []string{"stage"}, nil)
	cmdPlanned  = prometheus.NewDesc("citybench_commands_planned", "Downlink commands in the run's plan.", nil, nil)
	cmdErrors   = prometheus.NewDesc("citybench_command_errors_total", "Failed command or acknowledgement publishes.", nil, nil)
)

// quantiles are the last second's latency quantiles in seconds, none for a
// second without deliveries.
func quantiles(q result.Quantiles) map[float64]float64 {
	if q.Count == 0 {
		return nil
	}
	return map[float64]float64{0.5: float64(q.P50Us) / 1e6, 0.9: float64(q.P90Us) / 1e6, 0.99: float64(q.P99Us) / 1e6, 1: float64(q.MaxUs) / 1e6}
}

// collector turns the exporter's latest snapshot into const metrics at scrape time.
type collector struct{ e *Exporter }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{runInfo, elapsed, planned, offered, delivered, latency, backlog, stageLag, connections, errs, commands, cmdPlanned, cmdErrors} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(runInfo, prometheus.GaugeValue, 1, c.e.info.Scenario, c.e.info.Target)
	s := c.e.latest()
	if s == nil {
		return // before the run's first second: only the run's identity
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(elapsed, s.ElapsedS)
	gauge(planned, s.PlannedS)
	counter(offered, s.Offered)
	gauge(connections, float64(s.Connections))
	counter(errs, s.Errors)
	var sent int64
	for _, st := range s.Stages {
		counter(delivered, st.Delivered, st.Name)
		if st.Name == result.StageSent {
			sent = st.Delivered
			gauge(backlog, float64(max(s.Offered-sent, 0)))
		} else if !st.Partial {
			gauge(stageLag, float64(max(sent-st.Delivered, 0)), st.Name)
		}
		if st.Name != result.StageSent { // sent records no latency: its lag stays off the publish path
			ch <- prometheus.MustNewConstSummary(latency, uint64(st.LatencyCount), st.LatencySumS, quantiles(st.LastSecond), st.Name)
		}
	}
	if cm := s.Commands; cm != nil {
		gauge(cmdPlanned, float64(cm.Planned))
		counter(commands, cm.Sent, result.StageCommandSent)
		counter(commands, cm.Delivered, result.StageCommandDelivered)
		counter(commands, cm.Acked, result.StageCommandAcked)
		counter(cmdErrors, cm.Errors)
	}
}
