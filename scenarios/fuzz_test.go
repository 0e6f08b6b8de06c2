package scenarios

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse holds Parse to its promise: any input yields either a valid scenario
// or ValidationErrors naming the file, never a panic.
func FuzzParse(f *testing.F) {
	for _, pattern := range []string{"*.yaml", "faults/*.yaml", "testdata/*.yaml"} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Add([]byte(minimal))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse("f.yaml", data)
		if err != nil {
			var verrs ValidationErrors
			if !errors.As(err, &verrs) || len(verrs) == 0 {
				t.Fatalf("error %T %v is not a non-empty ValidationErrors", err, err)
			}
			for _, e := range verrs {
				if e.File != "f.yaml" {
					t.Fatalf("error %q does not name the file", e)
				}
			}
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("accepted scenario fails Validate: %v", err)
		}
		if s.Devices() < 1 || s.Total() <= 0 || len(s.Phases) == 0 {
			t.Fatalf("accepted scenario with %d devices, %s total, %d phases", s.Devices(), s.Total(), len(s.Phases))
		}
		if _, err := s.ParseSLOs(); err != nil {
			t.Fatalf("accepted scenario with bad SLOs: %v", err)
		}
	})
}
