package scenarios

import (
	"path/filepath"
	"slices"
	"testing"
)

// TestFaultCatalog pins what every scenarios/faults file promises: it loads,
// runs on containers, declares at least one fault and judges loss, duplicates,
// recovery and unavailability at the store.
func TestFaultCatalog(t *testing.T) {
	files, err := filepath.Glob("faults/*.yaml")
	if err != nil || len(files) < 9 {
		t.Fatalf("fault catalog has %d files (%v), want the nine of docs/faults.md", len(files), err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			s, err := Load(f)
			if err != nil {
				t.Fatal(err)
			}
			if s.Name+".yaml" != filepath.Base(f) {
				t.Errorf("name %q does not match the file", s.Name)
			}
			if s.Target.Kind != TargetContainers || len(s.Faults) == 0 {
				t.Errorf("target %s with %d faults, want containers and a fault", s.Target.Kind, len(s.Faults))
			}
			for _, want := range []string{"store.loss == 0", "store.duplicates == 0"} {
				if !slices.Contains(s.SLOs, want) {
					t.Errorf("SLOs %v lack %q", s.SLOs, want)
				}
			}
			slos, err := s.ParseSLOs()
			if err != nil {
				t.Fatal(err)
			}
			metrics := map[string]bool{}
			for _, x := range slos {
				metrics[x.Metric] = true
			}
			if !metrics[MetricRecoveryTime] || !metrics[MetricUnavailable] {
				t.Errorf("SLOs %v judge no recovery_time or unavailable", s.SLOs)
			}
		})
	}
}
