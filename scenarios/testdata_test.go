package scenarios

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// want is one expected error: the line its "# want:" comment sits on and a
// substring of the error, which starts with "file:line: ".
type want struct {
	line int
	text string
}

// readWants collects "# want: a | b" comments; each file under testdata says
// what is wrong with it on the line where it is wrong.
func readWants(t *testing.T, path string) []want {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ws []want
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		_, after, ok := strings.Cut(sc.Text(), "# want: ")
		if !ok {
			continue
		}
		for _, w := range strings.Split(after, " | ") {
			ws = append(ws, want{line, strings.TrimSpace(w)})
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(ws) == 0 {
		t.Fatalf("%s has no '# want:' comments", path)
	}
	return ws
}

func TestInvalidFiles(t *testing.T) {
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			wants := readWants(t, path)
			s, err := Load(path)
			if err == nil {
				t.Fatalf("loaded %q, want errors", s.Name)
			}
			var verrs ValidationErrors
			if !errors.As(err, &verrs) {
				t.Fatalf("error %T %v is not ValidationErrors", err, err)
			}
			matched := make([]bool, len(verrs))
			for _, w := range wants {
				prefix := path + ":" + strconv.Itoa(w.line) + ": "
				found := false
				for i, e := range verrs {
					msg := e.Error()
					if !matched[i] && strings.HasPrefix(msg, prefix) && strings.Contains(msg, w.text) {
						matched[i], found = true, true
						break
					}
				}
				if !found {
					t.Errorf("missing error %s…%s", prefix, w.text)
				}
			}
			for i, e := range verrs {
				if !matched[i] {
					t.Errorf("unexpected error: %v", e)
				}
			}
		})
	}
}
