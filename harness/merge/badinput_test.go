package merge

import (
	"testing"

	"github.com/citybench/citybench/reports/result"
)

func TestAddBadInputSumsSegments(t *testing.T) {
	seg := func(sites, dead int64, verified bool) *result.Result {
		return &result.Result{
			Replays: []result.Replay{{Fleet: "epa", File: "f.csv", Sites: int(sites), Rows: 14 * int(sites), Messages: 14 * int(sites), EmptyCells: 1}},
			Malformed: &result.Malformed{Verified: verified,
				Kinds: []result.MalformedKind{{Kind: "oversize", Injected: 5, DeadLettered: dead, Reasons: map[string]int64{"oversize": dead}}},
				Total: result.MalformedKind{Kind: "total", Injected: 5, DeadLettered: dead, Reasons: map[string]int64{"oversize": dead}}},
		}
	}
	out := &result.Result{}
	addBadInput(out, seg(2, 5, true))
	addBadInput(out, seg(1, 4, false))
	if rp := out.Replays; len(rp) != 1 || rp[0].Sites != 3 || rp[0].Messages != 42 || rp[0].EmptyCells != 2 {
		t.Errorf("replays %+v: want one fleet with 3 sites, 42 messages, 2 empty cells", rp)
	}
	mf := out.Malformed
	if mf.Verified || mf.Total.Injected != 10 || mf.Total.DeadLettered != 9 || len(mf.Kinds) != 1 || mf.Kinds[0].Reasons["oversize"] != 9 {
		t.Errorf("malformed %+v: want unverified (one segment was), 10 injected, 9 dead-lettered in one kind", mf)
	}
}
