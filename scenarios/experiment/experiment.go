// Package experiment defines an experiment file: the rows and columns of a
// published table, which scenario produces each cell, and the figures the
// source reports for them. It loads and validates; running and tabulating are
// someone else's job.
package experiment

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/citybench/citybench/scenarios"
)

// File is the description's name inside an experiment folder.
const File = "experiment.yaml"

// Dir is where the catalog of experiments lives, relative to the repository root.
const Dir = "scenarios/experiments"

// Experiment is one table to reproduce.
type Experiment struct {
	Name  string `yaml:"name"`
	Title string `yaml:"title"`
	// Source cites where the published figures come from.
	Source string `yaml:"source"`
	// Measure is the figure every cell reports, written like an SLO's subject:
	// store.rate (closed-loop stored msgs/s), store.throughput, store.latency.p99 …
	Measure string `yaml:"measure"`
	// Published names what the paper column holds, e.g. "paper" or "arithmetic".
	Published string   `yaml:"published,omitempty"`
	Columns   []Column `yaml:"columns"`
	Rows      []Row    `yaml:"rows"`
	Ratios    []Ratio  `yaml:"ratios,omitempty"`
	// Notes say what differs from the source's setup, in plain words.
	Notes string `yaml:"notes,omitempty"`

	// Dir is the folder the file was read from; set by Load.
	Dir string `yaml:"-"`
	// Subject is Measure parsed; set by Load.
	Subject scenarios.SLO `yaml:"-"`
}

// Column is one varying setting across a row, e.g. QoS 2 and QoS 1.
type Column struct {
	Name  string `yaml:"name"`
	Label string `yaml:"label"`
}

// Row is one line of the table: its varying parameters and one cell per column.
type Row struct {
	Name  string `yaml:"name"`
	Label string `yaml:"label"`
	// Measure overrides the experiment's measure for this row; rows that share a
	// scenario run it once per repeat and read each its own figure.
	Measure string            `yaml:"measure,omitempty"`
	Subject scenarios.SLO     `yaml:"-"`
	Params  map[string]string `yaml:"params,omitempty"`
	Cells   map[string]Cell   `yaml:"cells"`
	line    int
}

// Cell is one scenario run and the figure the source published for it (nil: none).
type Cell struct {
	Scenario string   `yaml:"scenario"`
	Paper    *float64 `yaml:"paper,omitempty"`
}

// Ratio compares two columns row by row, e.g. QoS 1 / QoS 2.
type Ratio struct {
	Name        string   `yaml:"name"`
	Numerator   string   `yaml:"numerator"`
	Denominator string   `yaml:"denominator"`
	Paper       *float64 `yaml:"paper,omitempty"` // what the source states for this ratio
	Note        string   `yaml:"note,omitempty"`
}

// ScenarioPath is where a cell's scenario file is.
func (e *Experiment) ScenarioPath(c Cell) string { return filepath.Join(e.Dir, c.Scenario) }

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// Load reads dir/experiment.yaml, rejecting unknown fields, and checks that every
// cell names a scenario file in dir and every ratio names two columns. Errors
// name the file and line.
func Load(dir string) (*Experiment, error) {
	path := filepath.Join(dir, File)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read experiment: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var e Experiment
	if err := dec.Decode(&e); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, scenarios.ValidationErrors{{File: path, Msg: "empty experiment file"}}
		}
		return nil, yamlErrors(path, err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err == nil {
		rowLines(&doc, e.Rows)
	}
	e.Dir = dir
	if err := e.validate(path); err != nil {
		return nil, err
	}
	return &e, nil
}

var lineRE = regexp.MustCompile(`line (\d+): (.*)`)

func yamlErrors(path string, err error) error {
	var te *yaml.TypeError
	msgs := []string{err.Error()}
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	var out scenarios.ValidationErrors
	for _, m := range msgs {
		fe := &scenarios.FieldError{File: path, Msg: strings.TrimPrefix(m, "yaml: ")}
		if g := lineRE.FindStringSubmatch(m); g != nil {
			fe.Line, _ = strconv.Atoi(g[1])
			fe.Msg = g[2]
		}
		out = append(out, fe)
	}
	return out
}

// rowLines records where each row starts, for error messages.
func rowLines(doc *yaml.Node, rows []Row) {
	if len(doc.Content) == 0 {
		return
	}
	m := doc.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value != "rows" {
			continue
		}
		for j, item := range m.Content[i+1].Content {
			if j < len(rows) {
				rows[j].line = item.Line
			}
		}
	}
}

func (e *Experiment) validate(path string) error {
	var errs scenarios.ValidationErrors
	add := func(line int, field, format string, args ...any) {
		errs = append(errs, &scenarios.FieldError{File: path, Line: line, Path: field, Msg: fmt.Sprintf(format, args...)})
	}
	if !nameRE.MatchString(e.Name) {
		add(0, "name", "name %q: use letters, digits, '.', '_' or '-'", e.Name)
	}
	if e.Title == "" || e.Source == "" {
		add(0, "source", "an experiment needs a title and the source its figures come from")
	}
	subj, err := scenarios.ParseMeasure(e.Measure)
	if err != nil {
		add(0, "measure", "%v", err)
	}
	e.Subject = subj
	if e.Published == "" {
		e.Published = "paper"
	}
	cols := map[string]bool{}
	for i, c := range e.Columns {
		if !nameRE.MatchString(c.Name) || cols[c.Name] {
			add(0, fmt.Sprintf("columns[%d].name", i), "column name %q must be unique letters, digits, '.', '_' or '-'", c.Name)
		}
		cols[c.Name] = true
	}
	if len(e.Columns) == 0 || len(e.Rows) == 0 {
		add(0, "rows", "an experiment needs at least one column and one row")
	}
	seen := map[string]bool{}
	for i, r := range e.Rows {
		p := fmt.Sprintf("rows[%d]", i)
		if !nameRE.MatchString(r.Name) || seen[r.Name] {
			add(r.line, p+".name", "row name %q must be unique letters, digits, '.', '_' or '-'", r.Name)
		}
		seen[r.Name] = true
		e.Rows[i].Subject = subj
		if r.Measure != "" {
			rs, err := scenarios.ParseMeasure(r.Measure)
			if err != nil {
				add(r.line, p+".measure", "%v", err)
			}
			e.Rows[i].Subject = rs
		}
		for _, col := range sortedKeys(r.Cells) {
			c := r.Cells[col]
			if !cols[col] {
				add(r.line, p+".cells."+col, "no column %q (columns: %s)", col, strings.Join(e.ColumnNames(), ", "))
			}
			if _, err := os.Stat(e.ScenarioPath(c)); err != nil {
				add(r.line, p+".cells."+col+".scenario", "scenario %q not found next to %s", c.Scenario, File)
			}
		}
	}
	for i, q := range e.Ratios {
		if !cols[q.Numerator] || !cols[q.Denominator] {
			add(0, fmt.Sprintf("ratios[%d]", i), "ratio %q compares columns %q and %q; both must be columns", q.Name, q.Numerator, q.Denominator)
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// ColumnNames lists the columns in order.
func (e *Experiment) ColumnNames() []string {
	out := make([]string, len(e.Columns))
	for i, c := range e.Columns {
		out[i] = c.Name
	}
	return out
}

// Cells counts the scenario runs of one repeat.
func (e *Experiment) Cells() int {
	n := 0
	for _, r := range e.Rows {
		n += len(r.Cells)
	}
	return n
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// List returns the experiments under root (each a folder with an experiment.yaml).
func List(root string) ([]*Experiment, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("list experiments: %w", err)
	}
	var out []*Experiment
	for _, en := range entries {
		if !en.IsDir() {
			continue
		}
		e, err := Load(filepath.Join(root, en.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}
