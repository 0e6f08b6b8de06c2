package downlink

import (
	"fmt"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/citybench/citybench/harness/ledger"
	"github.com/citybench/citybench/reports/result"
)

// Summarise accounts for the commands intended in [from, until): per stage,
// latency from the intended send time and service time from the actual send,
// delivered, lost and duplicated, and availability within deadline. Call it
// once recording has stopped.
func (r *Recorder) Summarise(from, until, deadline time.Duration) (*result.Downlink, error) {
	out := &result.Downlink{Errors: r.errors.Load(), Unknown: map[string]int64{}}
	for s := range numStages {
		st, err := r.summariseStage(s, from, until, deadline)
		if err != nil {
			return nil, err
		}
		out.Stages = append(out.Stages, st)
		if n := r.unknown[s].Load(); n > 0 {
			out.Unknown[stageNames[s]] = n
		}
	}
	out.Commands = out.Stages[sent].Delivery.Expected
	if len(out.Unknown) == 0 {
		out.Unknown = nil
	}
	if n := r.severitySent.Load(); n > 0 || r.severityDups.Load() > 0 {
		seen := int64(0)
		r.severitySeen.Range(func(any, any) bool { seen++; return true })
		out.Severity = &result.SeverityReports{Sent: n, Seen: seen, Duplicated: r.severityDups.Load()}
	}
	out.Note = "commands sent by the harness's commander client; device receipt is timed by the simulated device, the acknowledgement by the commander — one host clock"
	return out, nil
}

func (r *Recorder) summariseStage(s stage, from, until, deadline time.Duration) (result.StageSummary, error) {
	lat, svc := ledger.NewHistogram(), ledger.NewHistogram()
	var dl result.Delivery
	for i, c := range r.plan.Commands {
		if c.At < from || c.At >= until {
			continue
		}
		dl.Expected++
		dl.Duplicated += r.dups[s][i].Load()
		at := r.obs[s][i].Load()
		if at == 0 {
			dl.Lost++
			continue
		}
		dl.Delivered++
		latNs := at - r.intended(i)
		if latNs < 0 {
			dl.Negative++
		}
		if latNs <= int64(deadline) {
			dl.WithinDeadline++
		}
		_ = lat.RecordValue(clampUs(latNs))
		if sentAt := r.obs[sent][i].Load(); s != sent && sentAt != 0 {
			_ = svc.RecordValue(clampUs(at - sentAt))
		}
	}
	dl.SetAvailability()
	st := result.StageSummary{Stage: stageNames[s], Latency: ledger.Quantiles(lat), Delivery: dl}
	var err error
	if st.LatencyHDR, err = encode(lat); err != nil {
		return st, fmt.Errorf("%s latency: %w", stageNames[s], err)
	}
	if s != sent {
		st.ServiceTime = ledger.Quantiles(svc)
		if st.ServiceTimeHDR, err = encode(svc); err != nil {
			return st, fmt.Errorf("%s service time: %w", stageNames[s], err)
		}
	}
	return st, nil
}

func clampUs(ns int64) int64 { return min(max(ns/int64(time.Microsecond), ledger.MinUs), ledger.MaxUs) }

func encode(h *hdrhistogram.Histogram) (string, error) {
	b, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	return string(b), err
}
