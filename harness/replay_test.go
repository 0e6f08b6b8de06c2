package harness_test

import (
	"context"
	"encoding/csv"
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/citybench/citybench/harness"
	"github.com/citybench/citybench/harness/target"
	"github.com/citybench/citybench/harness/target/embedded"
	"github.com/citybench/citybench/pipeline/store"
	"github.com/citybench/citybench/scenarios"
)

// keepRows is a target that reads every row of the named devices from its store
// just before it stops, so a test can compare what was stored with what was meant.
type keepRows struct {
	target.Target
	devices []string
	eps     target.Endpoints
	mu      sync.Mutex
	rows    map[string][]store.Row
	err     error
}

func (k *keepRows) Start(ctx context.Context) (target.Endpoints, error) {
	eps, err := k.Target.Start(ctx)
	k.eps = eps
	return eps, err
}

func (k *keepRows) Stop(ctx context.Context) error {
	k.mu.Lock()
	k.rows = map[string][]store.Row{}
	for _, id := range k.devices {
		rows, err := k.eps.Store.Readings(ctx, store.Query{DeviceID: id, From: time.Now().Add(-24 * time.Hour), To: time.Now().Add(time.Hour)})
		if err != nil && k.err == nil {
			k.err = err
		}
		sort.Slice(rows, func(i, j int) bool { return rows[i].Seq < rows[j].Seq })
		k.rows[id] = rows
	}
	k.mu.Unlock()
	return k.Target.Stop(ctx)
}

// TestReplayStoresTheRecordedValues replays the committed EPA sample through the
// embedded pipeline and reads the store back: device i's n-th stored reading
// holds exactly the i-th site's n-th day's Mean_Concentration values, and the
// pollutants a site does not measure are absent — not zero, not guessed. The CSV
// is read here with encoding/csv, independently of the replay package.
func TestReplayStoresTheRecordedValues(t *testing.T) {
	sc, err := scenarios.Load("../scenarios/epa-replay.yaml")
	if err != nil {
		t.Fatal(err)
	}
	emb, err := embedded.New(sc, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkReplayStored(t, sc, emb)
}

// checkReplayStored runs the epa-replay scenario sc on tg and compares the store
// with the CSV.
func checkReplayStored(t *testing.T, sc *scenarios.Scenario, tg target.Target) {
	t.Helper()
	want := csvSites(t, "../scenarios/data/epa-sample.csv", []string{"Ozone", "SO2"})
	tgt := &keepRows{Target: tg, devices: []string{"epa-00000", "epa-00001", "epa-00002"}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	res, err := harness.Run(ctx, sc, harness.Options{Target: tgt})
	if err != nil {
		t.Fatal(err)
	}
	if tgt.err != nil {
		t.Fatalf("read back: %v", tgt.err)
	}
	if len(res.Replays) != 1 || res.Replays[0].Messages != 42 || res.Replays[0].EmptyCells != 14 || res.Replays[0].MissingDays != 0 {
		t.Errorf("replay figures %+v: want 42 messages, 14 empty cells (Sand Mountain's SO2), 0 missing days", res.Replays)
	}
	for i, id := range tgt.devices {
		rows := tgt.rows[id]
		if len(rows) != len(want[i]) {
			t.Fatalf("%s: %d rows stored, want %d (site %d of the file)", id, len(rows), len(want[i]), i)
		}
		for n, row := range rows {
			if row.Seq != uint64(n+1) {
				t.Fatalf("%s: row %d has seq %d", id, n, row.Seq)
			}
			if len(row.Metrics) != len(want[i][n]) {
				t.Errorf("%s seq %d: metrics %v, want %v", id, row.Seq, row.Metrics, want[i][n])
			}
			for m, v := range want[i][n] {
				if got, ok := row.Metrics[m]; !ok || got != v {
					t.Errorf("%s seq %d: %s = %v (present %v), CSV says %v", id, row.Seq, m, got, ok, v)
				}
			}
		}
	}
}

// csvSites reads the file's rows per site in order of first appearance, each
// row's non-empty pollutant means by pollutant, in date order.
func csvSites(t *testing.T, path string, pollutants []string) [][]map[string]float64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, c := range recs[0] {
		col[c] = i
	}
	var order []string
	bySite := map[string][][]string{}
	for _, r := range recs[1:] {
		site := r[col["Site_Number"]]
		if _, ok := bySite[site]; !ok {
			order = append(order, site)
		}
		bySite[site] = append(bySite[site], r)
	}
	var out [][]map[string]float64
	for _, site := range order {
		rows := bySite[site]
		sort.SliceStable(rows, func(i, j int) bool { return rows[i][col["Date"]] < rows[j][col["Date"]] })
		var days []map[string]float64
		for _, r := range rows {
			m := map[string]float64{}
			for _, p := range pollutants {
				if s := r[col["Mean_Concentration_AirPollutant_"+p]]; s != "" {
					v, err := strconv.ParseFloat(s, 64)
					if err != nil {
						t.Fatal(err)
					}
					m[p] = v
				}
			}
			days = append(days, m)
		}
		out = append(out, days)
	}
	return out
}
