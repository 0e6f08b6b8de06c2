package scenarios

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Load reads, defaults and validates the scenario file at path.
func Load(path string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read scenario: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes a scenario from data; name is used in error messages and as the
// scenario's File. Errors are ValidationErrors: every unknown field and malformed
// value at once or, when there are none, every validation problem at once.
func Parse(name string, data []byte) (*Scenario, error) {
	doc, err := parseDocument(name, data)
	if err != nil {
		return nil, err
	}
	// The root path holds the document's line, so a missing top-level field is
	// reported at the top of the file.
	idx := &pathIndex{lines: map[string]int{"": doc.Line}, leafAt: map[int]string{}}
	var errs ValidationErrors
	idx.walk(doc, reflect.TypeOf(Scenario{}), "", name, &errs)
	if idx.visited > maxNodes {
		return nil, ValidationErrors{{File: name, Line: doc.Line, Msg: "document too large or too many aliases"}}
	}
	if len(errs) > 0 {
		// Type and unknown-field errors first: validating a half-decoded
		// scenario would bury them under follow-on noise.
		return nil, errs.sorted()
	}
	var s Scenario
	if err := doc.Decode(&s); err != nil {
		// The walk decoded every leaf already; this catches what it cannot
		// see, such as duplicate keys and excessive aliasing.
		return nil, decodeErrors(name, err, idx).sorted()
	}
	s.File = name
	sum := sha256.Sum256(data)
	s.Hash = hex.EncodeToString(sum[:])
	s.lines = idx.lines
	s.setDefaults()
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// parseDocument returns the single top-level mapping of data.
func parseDocument(name string, data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, ValidationErrors{{File: name, Msg: "empty scenario file"}}
		}
		return nil, ValidationErrors{syntaxError(name, err)}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, ValidationErrors{{File: name, Line: extra.Line, Msg: "more than one YAML document; a scenario file holds exactly one"}}
	} else if !errors.Is(err, io.EOF) {
		return nil, ValidationErrors{syntaxError(name, err)}
	}
	if len(root.Content) == 0 {
		return nil, ValidationErrors{{File: name, Msg: "empty scenario file"}}
	}
	doc := root.Content[0]
	if doc.Kind != yaml.MappingNode {
		return nil, ValidationErrors{{File: name, Line: doc.Line, Msg: "want a mapping of scenario fields at the top level"}}
	}
	return doc, nil
}

var yamlLineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

func syntaxError(name string, err error) *FieldError {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &FieldError{File: name, Line: line, Msg: m[2]}
	}
	return &FieldError{File: name, Msg: strings.TrimPrefix(msg, "yaml: ")}
}

var unmarshalRE = regexp.MustCompile("^cannot unmarshal !!(\\w+) `(.*)` into (.+)$")

// decodeErrors turns yaml.v3's "line N: ..." messages into FieldErrors that name
// the field found at that line.
func decodeErrors(name string, err error, idx *pathIndex) ValidationErrors {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return ValidationErrors{syntaxError(name, err)}
	}
	var out ValidationErrors
	for _, e := range te.Errors {
		m := yamlLineRE.FindStringSubmatch(e)
		if m == nil {
			out = append(out, &FieldError{File: name, Msg: e})
			continue
		}
		line, _ := strconv.Atoi(m[1])
		msg := m[2]
		if u := unmarshalRE.FindStringSubmatch(msg); u != nil {
			msg = fmt.Sprintf("want %s, got %q", friendlyType(u[3]), u[2])
		}
		out = append(out, &FieldError{File: name, Line: line, Path: idx.leafAt[line], Msg: msg})
	}
	return out
}

func friendlyType(goType string) string {
	switch {
	case strings.HasPrefix(goType, "int") || strings.HasPrefix(goType, "uint"):
		return "a whole number"
	case strings.HasPrefix(goType, "float"):
		return "a number"
	case goType == "bool":
		return "true or false"
	case goType == "string":
		return "a string"
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	default:
		return "a mapping"
	}
}

// pathIndex remembers where each field path sits in the file, so that errors found
// after decoding (validation) still point at a line.
type pathIndex struct {
	lines   map[string]int // field path → line of its key (or item)
	leafAt  map[int]string // line → first scalar field path on it
	visited int            // nodes walked, bounded by maxNodes
}

// maxNodes bounds the walk: aliases can make a small file expand enormously.
const maxNodes = 50_000

var unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()

// walk records every path in n and reports keys that t has no field for.
func (p *pathIndex) walk(n *yaml.Node, t reflect.Type, path, file string, errs *ValidationErrors) {
	if p.visited++; p.visited > maxNodes {
		return
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if isLeaf(n, t) {
		if _, ok := p.leafAt[n.Line]; !ok && path != "" {
			p.leafAt[n.Line] = path
		}
		// Decoding each leaf on its own pins a type error to its exact path,
		// which yaml's "line N:" messages cannot do for flow mappings.
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			for _, e := range decodeErrors(file, err, p) {
				e.Path = path
				*errs = append(*errs, e)
			}
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Tag == "!!merge" {
				p.walkMerge(v, t, path, file, errs)
				continue
			}
			child := join(path, k.Value)
			p.record(child, k.Line)
			ft, ok := fields[k.Value]
			if !ok {
				*errs = append(*errs, &FieldError{File: file, Line: k.Line, Path: child, Msg: unknownFieldMsg(k.Value, fields)})
				continue
			}
			p.walk(v, ft, child, file, errs)
		}
	case reflect.Slice:
		for i, item := range n.Content {
			child := fmt.Sprintf("%s[%d]", path, i)
			p.record(child, item.Line)
			p.walk(item, t.Elem(), child, file, errs)
		}
	case reflect.Map:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			child := join(path, k.Value)
			p.record(child, k.Line)
			p.walk(v, t.Elem(), child, file, errs)
		}
	}
}

// isLeaf reports whether n is decoded as a whole into t: a scalar, a custom
// unmarshaler, or a node of the wrong shape (whose decode error names the field).
func isLeaf(n *yaml.Node, t reflect.Type) bool {
	if n.Kind == yaml.ScalarNode || reflect.PointerTo(t).Implements(unmarshalerType) {
		return true
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return n.Kind != yaml.MappingNode
	case reflect.Slice:
		return n.Kind != yaml.SequenceNode
	}
	return true
}

// walkMerge follows YAML merge keys (<<: *defaults), which may hold one mapping
// or a list of them.
func (p *pathIndex) walkMerge(v *yaml.Node, t reflect.Type, path, file string, errs *ValidationErrors) {
	if v.Kind == yaml.AliasNode && v.Alias != nil {
		v = v.Alias
	}
	if v.Kind == yaml.SequenceNode {
		for _, item := range v.Content {
			p.walk(item, t, path, file, errs)
		}
		return
	}
	p.walk(v, t, path, file, errs)
}

func (p *pathIndex) record(path string, line int) {
	if _, ok := p.lines[path]; !ok {
		p.lines[path] = line
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// yamlFields maps the yaml names of t's fields to their types.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	fields := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields[name] = f.Type
	}
	return fields
}

func unknownFieldMsg(key string, fields map[string]reflect.Type) string {
	names := make([]string, 0, len(fields))
	best, bestDist := "", 3
	for n := range fields {
		names = append(names, n)
		if d := editDistance(key, n); d < bestDist {
			best, bestDist = n, d
		}
	}
	if best != "" {
		return fmt.Sprintf("unknown field %q (did you mean %q?)", key, best)
	}
	sort.Strings(names)
	return fmt.Sprintf("unknown field %q (known: %s)", key, strings.Join(names, ", "))
}

// editDistance is the Levenshtein distance, for "did you mean" hints.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// lineOf finds the line of path, or of its nearest ancestor present in the file
// (a missing field is reported at the mapping that should have held it).
func (s *Scenario) lineOf(path string) int {
	for {
		if l, ok := s.lines[path]; ok {
			return l
		}
		if path == "" {
			return 0
		}
		path = path[:max(strings.LastIndexByte(path, '.'), strings.LastIndexByte(path, '['), 0)]
	}
}

// has reports whether path was written in the file; a scenario built in Go has
// no file, and then zero values count as absent.
func (s *Scenario) has(path string) bool {
	_, ok := s.lines[path]
	return ok
}

// scenarioName derives a name from the file name when the file gives none.
func scenarioName(file string) string {
	base := filepath.Base(file)
	return strings.TrimSuffix(base, filepath.Ext(base))
}
