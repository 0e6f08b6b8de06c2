package schedule

import (
	"path/filepath"
	"reflect"
	"testing"

	"github.com/citybench/citybench/scenarios"
)

// TestSegmentsPartitionThePlan checks, on every catalog scenario, that n
// segments together hold exactly the devices of the whole plan — same ids,
// topics, intended times and values — each device in exactly one segment, and
// that each fleet is interleaved (device k in segment k mod n).
func TestSegmentsPartitionThePlan(t *testing.T) {
	files, err := filepath.Glob("../../scenarios/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("catalog: %v (%d files)", err, len(files))
	}
	for _, file := range files {
		for _, n := range []int{1, 3, 7} {
			t.Run(filepath.Base(file), func(t *testing.T) {
				sc, err := scenarios.Load(file)
				if err != nil {
					t.Fatal(err)
				}
				whole, err := Build(sc)
				if err != nil {
					t.Fatal(err)
				}
				seen := make([]int, len(whole.Devices))
				messages := 0
				for i := range n {
					seg := Segment{I: i, N: n}
					part, err := BuildSegment(sc, seg)
					if err != nil {
						t.Fatal(err)
					}
					want := 0
					for _, f := range sc.Fleets {
						want += seg.Count(f.Devices)
					}
					if len(part.Devices) != want {
						t.Fatalf("segment %s holds %d devices, Count says %d", seg, len(part.Devices), want)
					}
					if part.Warmup != whole.Warmup || part.End != whole.End || !reflect.DeepEqual(part.Phases, whole.Phases) {
						t.Fatalf("segment %d/%d has another time line than the whole plan", i, n)
					}
					for pos, d := range part.Devices {
						if d.Index != pos {
							t.Fatalf("segment %d/%d: device %s has Index %d at position %d", i, n, d.ID, d.Index, pos)
						}
						w := whole.Devices[d.Global]
						if d.ID != w.ID || !reflect.DeepEqual(d.Location, w.Location) || !reflect.DeepEqual(d.Topics(), w.Topics()) || !reflect.DeepEqual(d.Messages(), w.Messages()) {
							t.Fatalf("segment %d/%d: device %s differs from the whole plan's", i, n, d.ID)
						}
						if k := fleetPosition(whole, d.Global); k%n != i {
							t.Fatalf("segment %d/%d holds fleet device %d", i, n, k)
						}
						seen[d.Global]++
						messages += len(d.Messages())
					}
				}
				for g, c := range seen {
					if c != 1 {
						t.Fatalf("device %s is in %d segments of %d, want exactly one", whole.Devices[g].ID, c, n)
					}
				}
				if messages != whole.Count() {
					t.Fatalf("segments hold %d messages, the whole plan %d", messages, whole.Count())
				}
			})
		}
	}
}

func fleetPosition(p *Plan, global int) int {
	k := 0
	for g := global - 1; g >= 0 && p.Devices[g].Fleet == p.Devices[global].Fleet; g-- {
		k++
	}
	return k
}

func TestParseSegment(t *testing.T) {
	tests := []struct {
		in   string
		want Segment
		bad  bool
	}{
		{in: "0/1", want: Whole},
		{in: "2/3", want: Segment{I: 2, N: 3}},
		{in: "3/3", bad: true},
		{in: "-1/3", bad: true},
		{in: "1/0", bad: true},
		{in: "1", bad: true},
		{in: "a/b", bad: true},
	}
	for _, tt := range tests {
		got, err := ParseSegment(tt.in)
		if (err != nil) != tt.bad {
			t.Errorf("ParseSegment(%q) error = %v, want error %v", tt.in, err, tt.bad)
		}
		if !tt.bad && got != tt.want {
			t.Errorf("ParseSegment(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
