package harness

import (
	"fmt"

	"github.com/citybench/citybench/harness/ledger"
	"github.com/citybench/citybench/harness/target"
	"github.com/citybench/citybench/reports/result"
	"github.com/citybench/citybench/scenarios"
)

// badInput adds what the run's recorded and malformed inputs did: each replay
// fleet's replay figures, and per malformed kind how many were sent,
// dead-lettered (the dead-letter tap's book) and stored (the store read-back's
// sightings under their own device and seq).
func (r *run) badInput(res *result.Result, eps target.Endpoints) {
	for _, st := range r.plan.Replays {
		res.Replays = append(res.Replays, result.Replay{Fleet: st.Fleet, File: st.File, SHA256: st.SHA256, Sites: st.Sites,
			Rows: st.Rows, RowsReplayed: st.RowsReplayed, Messages: st.Messages, MissingDays: st.MissingDays,
			EmptyCells: st.EmptyCells, RowsEmpty: st.RowsEmpty, RowsBeyondRun: st.RowsBeyondRun})
	}
	if r.book == nil {
		return
	}
	stored := map[string]int64{}
	if eps.Store != nil {
		for dev, d := range r.plan.Devices {
			for i := range d.Messages {
				m := &d.Messages[i]
				if m.Malformed != 0 && r.led.Seen(ledger.Store, dev, m.Seq) {
					stored[d.MalformedKind(m)]++
				}
			}
		}
	}
	kinds, unmatched := r.book.Counts()
	mf := &result.Malformed{Verified: eps.KafkaDeadLetterTopic != "" && len(eps.KafkaBrokers) > 0, Total: result.MalformedKind{Kind: "total"}}
	for _, k := range scenarios.MalformedKinds {
		c, ok := kinds[k]
		if !ok {
			continue
		}
		mk := result.MalformedKind{Kind: k, Injected: c.Injected, DeadLettered: c.DeadLettered, Stored: stored[k],
			Duplicates: c.Duplicates, Reasons: c.Reasons}
		mk.Missing = max(0, mk.Injected-mk.DeadLettered-mk.Stored)
		mf.Kinds = append(mf.Kinds, mk)
		mf.Total.Add(mk)
	}
	if len(unmatched) > 0 {
		mf.Unmatched = unmatched
	}
	res.Malformed = mf
	if !mf.Verified {
		res.Warnings = append(res.Warnings, "malformed messages were sent but the target exposes no dead-letter topic: whether they were dead-lettered is unknown")
	} else if mf.Total.DeadLettered < mf.Total.Injected {
		res.Warnings = append(res.Warnings, fmt.Sprintf("%d of %d malformed messages never appeared in the dead-letter topic %s", mf.Total.Injected-mf.Total.DeadLettered, mf.Total.Injected, eps.KafkaDeadLetterTopic))
	}
	if mf.Total.Stored > 0 {
		res.Warnings = append(res.Warnings, fmt.Sprintf("%d malformed messages were stored as readings", mf.Total.Stored))
	}
}
