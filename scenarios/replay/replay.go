// Package replay reads recorded air-quality data in the US-EPA daily layout — one
// row per site and day: Date, Site_Number, Site_Name, Site_Location and one
// Mean_Concentration_AirPollutant_<X> column per pollutant — into per-site series
// a scenario can replay. It keeps what the file says and nothing more: an empty
// cell stays absent (never a guessed value) and a missing day stays missing; both
// are counted so a run can say what it did not replay.
package replay

import (
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Column names of the layout.
const (
	ColDate         = "Date"
	ColSiteNumber   = "Site_Number"
	ColSiteName     = "Site_Name"
	ColSiteLocation = "Site_Location"
	// MeanPrefix starts every pollutant column: Mean_Concentration_AirPollutant_Ozone.
	MeanPrefix = "Mean_Concentration_AirPollutant_"
	// DateLayout is how Date is written.
	DateLayout = time.DateOnly
)

// Day is the step of the daily layout.
const Day = 24 * time.Hour

// Data is one file's content for the pollutants asked for.
type Data struct {
	File   string
	SHA256 string
	// Pollutants are the <X> of the columns read, in the order asked for.
	Pollutants []string
	// Sites in the order they first appear in the file.
	Sites []Site
	// First is the earliest date of any site: the replay's time zero.
	First time.Time
	// EmptyCells counts the empty cells of the pollutants read.
	EmptyCells int
}

// Site is one monitoring site's series.
type Site struct {
	Number, Name, Location string
	// Rows in date order, one per day present in the file.
	Rows []Row
	// MissingDays counts the days between First and Last of this site that the
	// file has no row for.
	MissingDays int
}

// Row is one site's day: Values[i] is Pollutants[i], NaN where the cell is empty.
type Row struct {
	Date   time.Time
	Line   int // line in the file, for error messages and tests
	Values []float64
}

// Error names the file, line and column a problem is at.
type Error struct {
	File   string
	Line   int
	Column string
	Msg    string
}

func (e *Error) Error() string {
	if e.Column != "" {
		return fmt.Sprintf("%s:%d: column %s: %s", e.File, e.Line, e.Column, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// Load reads path, keeping the pollutants named (the <X> of MeanPrefix<X>).
func Load(path string, pollutants []string) (*Data, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	d, err := Read(path, io.TeeReader(f, h), pollutants)
	if err != nil {
		return nil, err
	}
	d.SHA256 = hex.EncodeToString(h.Sum(nil))
	return d, nil
}

// Read is Load from r; name is used in errors.
func Read(name string, r io.Reader, pollutants []string) (*Data, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = false
	header, err := cr.Read()
	if err != nil {
		return nil, &Error{File: name, Line: 1, Msg: fmt.Sprintf("no header: %v", err)}
	}
	idx := map[string]int{}
	for i, c := range header {
		idx[strings.TrimSpace(c)] = i
	}
	need := []string{ColDate, ColSiteNumber, ColSiteName, ColSiteLocation}
	for _, p := range pollutants {
		need = append(need, MeanPrefix+p)
	}
	for _, c := range need {
		if _, ok := idx[c]; !ok {
			return nil, &Error{File: name, Line: 1, Column: c, Msg: fmt.Sprintf("missing from the header (pollutant columns present: %s)", strings.Join(pollutantsIn(header), ", "))}
		}
	}
	d := &Data{File: name, Pollutants: slices.Clone(pollutants)}
	bySite := map[string]int{}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			return nil, &Error{File: name, Line: line, Msg: err.Error()}
		}
		row, site, err := d.row(name, line, rec, idx)
		if err != nil {
			return nil, err
		}
		i, ok := bySite[site.Number]
		if !ok {
			i = len(d.Sites)
			bySite[site.Number] = i
			d.Sites = append(d.Sites, site)
		}
		d.Sites[i].Rows = append(d.Sites[i].Rows, row)
	}
	if len(d.Sites) == 0 {
		return nil, &Error{File: name, Line: 2, Msg: "no data rows"}
	}
	return d, d.settle(name)
}

// row parses one record.
func (d *Data) row(name string, line int, rec []string, idx map[string]int) (Row, Site, error) {
	cell := func(col string) string { return strings.TrimSpace(rec[idx[col]]) }
	date, err := time.Parse(DateLayout, cell(ColDate))
	if err != nil {
		return Row{}, Site{}, &Error{File: name, Line: line, Column: ColDate, Msg: fmt.Sprintf("want YYYY-MM-DD, got %q", cell(ColDate))}
	}
	site := Site{Number: cell(ColSiteNumber), Name: cell(ColSiteName), Location: cell(ColSiteLocation)}
	if site.Number == "" {
		return Row{}, Site{}, &Error{File: name, Line: line, Column: ColSiteNumber, Msg: "empty: every row must name its site"}
	}
	row := Row{Date: date, Line: line, Values: make([]float64, len(d.Pollutants))}
	for i, p := range d.Pollutants {
		s := cell(MeanPrefix + p)
		if s == "" {
			row.Values[i] = math.NaN()
			d.EmptyCells++
			continue
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
			return Row{}, Site{}, &Error{File: name, Line: line, Column: MeanPrefix + p, Msg: fmt.Sprintf("not a finite number: %q", s)}
		}
		row.Values[i] = v
	}
	return row, site, nil
}

// settle orders each site's rows, refuses a day given twice and counts the missing days.
func (d *Data) settle(name string) error {
	for i := range d.Sites {
		s := &d.Sites[i]
		slices.SortStableFunc(s.Rows, func(a, b Row) int { return a.Date.Compare(b.Date) })
		for j := 1; j < len(s.Rows); j++ {
			gap := int(s.Rows[j].Date.Sub(s.Rows[j-1].Date) / Day)
			if gap == 0 {
				return &Error{File: name, Line: s.Rows[j].Line, Column: ColDate,
					Msg: fmt.Sprintf("site %s has %s twice (also line %d)", s.Number, s.Rows[j].Date.Format(DateLayout), s.Rows[j-1].Line)}
			}
			s.MissingDays += gap - 1
		}
		if first := s.Rows[0].Date; d.First.IsZero() || first.Before(d.First) {
			d.First = first
		}
	}
	return nil
}

// MissingDays is the missing days of every site.
func (d *Data) MissingDays() int {
	n := 0
	for _, s := range d.Sites {
		n += s.MissingDays
	}
	return n
}

// Pollutants lists the pollutants a header offers.
func pollutantsIn(header []string) []string {
	var out []string
	for _, c := range header {
		if p, ok := strings.CutPrefix(strings.TrimSpace(c), MeanPrefix); ok {
			out = append(out, p)
		}
	}
	return out
}
