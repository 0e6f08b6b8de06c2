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
	latency     = prometheus.NewDesc("citybench_stage_latency_seconds", "Latency (observed − intended send time) of what each stage saw in the last second, by quantile (1 = max); absent for a second without deliveries.", []string{"stage", "quantile"}, nil)
	lastCount   = prometheus.NewDesc("citybench_stage_latency_samples", "How many messages the last second's latency quantiles cover.", []string{"stage"}, nil)
	backlog     = prometheus.NewDesc("citybench_generator_backlog_messages", "Messages due but not yet sent: a growing value means the generator is falling behind.", nil, nil)
	stageLag    = prometheus.NewDesc("citybench_stage_lag_messages", "Messages sent but not yet seen by the stage: the pipeline's backlog up to it.", []string{"stage"}, nil)
	connections = prometheus.NewDesc("citybench_connections", "Device MQTT connections open.", nil, nil)
	errs        = prometheus.NewDesc("citybench_errors_total", "Device publish and connect failures.", nil, nil)
	commands    = prometheus.NewDesc("citybench_commands_total", "Downlink commands per command stage (command_sent, command_delivered: received by the device, command_acked: its acknowledgement seen).", []string{"stage"}, nil)
	cmdPlanned  = prometheus.NewDesc("citybench_commands_planned", "Downlink commands in the run's plan.", nil, nil)
	cmdErrors   = prometheus.NewDesc("citybench_command_errors_total", "Failed command or acknowledgement publishes.", nil, nil)
)

var quantiles = []struct {
	label string
	value func(result.Quantiles) int64
}{
	{"0.5", func(q result.Quantiles) int64 { return q.P50Us }},
	{"0.9", func(q result.Quantiles) int64 { return q.P90Us }},
	{"0.99", func(q result.Quantiles) int64 { return q.P99Us }},
	{"1", func(q result.Quantiles) int64 { return q.MaxUs }},
}

// collector turns the exporter's latest snapshot into const metrics at scrape time.
type collector struct{ e *Exporter }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{runInfo, elapsed, planned, offered, delivered, latency, lastCount, backlog, stageLag, connections, errs, commands, cmdPlanned, cmdErrors} {
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
		} else if !st.Sampled {
			gauge(stageLag, float64(max(sent-st.Delivered, 0)), st.Name)
		}
		gauge(lastCount, float64(st.LastSecond.Count), st.Name)
		if st.LastSecond.Count == 0 {
			continue
		}
		for _, q := range quantiles {
			gauge(latency, float64(q.value(st.LastSecond))/1e6, st.Name, q.label)
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
