package domains

import (
	"testing"

	"github.com/citybench/citybench/harness/schedule"
	"github.com/citybench/citybench/scenarios"
)

func TestKey(t *testing.T) {
	cases := []struct {
		name  string
		topic string
		loc   map[string]string
		want  string
	}{
		{"topic's locations by name", "hypo_city/{city}/{street}/{group}/{metric}",
			map[string]string{"city": "istanbul", "street": "bagdat", "group": "g3"}, "city=istanbul/group=g3/street=bagdat"},
		{"a location only the will names is not the device's domain", "city/{district}/{device}",
			map[string]string{"district": "nord", "room": "r1"}, "district=nord"},
		{"no location: the device id", "city/{device}/env", nil, "env-00007"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := &schedule.Device{ID: "env-00007", Fleet: &scenarios.Fleet{Topic: c.topic}, Location: c.loc}
			if got := Key(d); got != c.want {
				t.Errorf("Key = %q, want %q", got, c.want)
			}
		})
	}
}

// TestDomainsOfTheCatalogCity checks on the 50,000-device catalog city that a
// location's devices share a domain and that domains get even shares.
func TestDomainsOfTheCatalogCity(t *testing.T) {
	sc, err := scenarios.Load("../../scenarios/city-50k.yaml")
	if err != nil {
		t.Fatal(err)
	}
	plan, err := schedule.Build(sc)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1, 2, 5, 7} {
		byKey := map[string]int{}
		for _, d := range plan.Devices {
			dom := Device(d, n)
			if dom < 0 || dom >= n {
				t.Fatalf("%s: domain %d of %d", d.ID, dom, n)
			}
			if prev, ok := byKey[Key(d)]; ok && prev != dom {
				t.Fatalf("location %s in domains %d and %d", Key(d), prev, dom)
			}
			byKey[Key(d)] = dom
		}
		shares := Shares(plan, n)
		mean := len(plan.Devices) / n
		for i, s := range shares {
			// 200 locations of 250 devices: shares within a third of the mean.
			if s < mean*2/3 || s > mean*4/3 {
				t.Errorf("%d domains: domain %d holds %d devices, mean %d (%v)", n, i, s, mean, shares)
			}
		}
		t.Logf("%d domains: %v", n, shares)
	}
}
