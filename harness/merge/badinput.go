package merge

import (
	"slices"

	"github.com/citybench/citybench/reports/result"
)

// addBadInput adds segment p's replay figures (per fleet: the segments hold
// different sites of one file) and malformed counts (per kind) to out. A merged
// malformed section is verified only if every segment's was.
func addBadInput(out, p *result.Result) {
	for _, rp := range p.Replays {
		i := slices.IndexFunc(out.Replays, func(o result.Replay) bool { return o.Fleet == rp.Fleet })
		if i < 0 {
			out.Replays = append(out.Replays, rp)
			continue
		}
		o := &out.Replays[i]
		o.Sites += rp.Sites
		o.Rows += rp.Rows
		o.RowsReplayed += rp.RowsReplayed
		o.Messages += rp.Messages
		o.MissingDays += rp.MissingDays
		o.EmptyCells += rp.EmptyCells
		o.RowsEmpty += rp.RowsEmpty
		o.RowsBeyondRun += rp.RowsBeyondRun
	}
	mf := p.Malformed
	if mf == nil {
		return
	}
	if out.Malformed == nil {
		out.Malformed = &result.Malformed{Verified: true, Total: result.MalformedKind{Kind: mf.Total.Kind}}
	}
	m := out.Malformed
	m.Verified = m.Verified && mf.Verified
	m.Total.Add(mf.Total)
	for _, k := range mf.Kinds {
		i := slices.IndexFunc(m.Kinds, func(o result.MalformedKind) bool { return o.Kind == k.Kind })
		if i < 0 {
			m.Kinds = append(m.Kinds, result.MalformedKind{Kind: k.Kind})
			i = len(m.Kinds) - 1
		}
		m.Kinds[i].Add(k)
	}
	for r, n := range mf.Unmatched {
		if m.Unmatched == nil {
			m.Unmatched = map[string]int64{}
		}
		m.Unmatched[r] += n
	}
}
