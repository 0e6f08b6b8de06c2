package api

import (
	"cmp"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/citybench/citybench/pipeline/store"
)

const statusClientClosed = 499

type errorBody struct {
	Error string `json:"error"`
	Param string `json:"param,omitempty"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v) // the client may be gone; nothing useful to do about it
}

// fail turns err into a JSON error response: parameter errors are the client's
// (400), a store that timed out is unavailable (503), anything else is ours (500)
// and is logged, not shown, since it may carry internal detail.
func (s *server) fail(w http.ResponseWriter, r *http.Request, op string, err error) {
	var (
		pe *paramError
		nf *noDeviceError
	)
	switch {
	case errors.As(err, &pe):
		writeJSON(w, http.StatusBadRequest, errorBody{Error: pe.msg, Param: pe.param})
	case errors.As(err, &nf):
		writeJSON(w, http.StatusNotFound, errorBody{Error: nf.Error(), Param: nf.param})
	case r.Context().Err() != nil:
		// The client went away and will not read this; the status (nginx's "client
		// closed request") is for the request metrics, so that these are not
		// counted as served.
		s.cfg.logger.DebugContext(r.Context(), "api request cancelled", "op", op, "err", err)
		w.WriteHeader(statusClientClosed)
	case errors.Is(err, store.ErrClosed):
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: "store closed"})
	case errors.Is(err, context.DeadlineExceeded):
		s.metrics.storeErrors.WithLabelValues(op).Inc()
		s.cfg.logger.WarnContext(r.Context(), "api store timeout", "op", op, "path", r.URL.Path, "err", err)
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: "store timed out"})
	default:
		s.metrics.storeErrors.WithLabelValues(op).Inc()
		s.cfg.logger.ErrorContext(r.Context(), "api store error", "op", op, "path", r.URL.Path, "err", err)
		writeJSON(w, http.StatusInternalServerError, errorBody{Error: "internal error"})
	}
}

// noDeviceError says the device named by param is unknown to the store.
type noDeviceError struct{ param, id string }

func (e *noDeviceError) Error() string { return fmt.Sprintf("unknown device %q", e.id) }

func (s *server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// Pinger is implemented by stores that can check their connection more cheaply
// than listing devices; /readyz uses it when present.
type Pinger interface {
	Ping(ctx context.Context) error
}

func (s *server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.readyTimeout)
	defer cancel()
	var err error
	if p, ok := s.st.(Pinger); ok {
		err = p.Ping(ctx)
	} else {
		_, err = s.st.Devices(ctx)
	}
	if err != nil {
		s.cfg.logger.WarnContext(r.Context(), "api not ready: store unreachable", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": "store unreachable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (s *server) apiFallback(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeJSON(w, http.StatusMethodNotAllowed, errorBody{Error: "method not allowed"})
		return
	}
	writeJSON(w, http.StatusNotFound, errorBody{Error: "no such endpoint"})
}

// DeviceJSON is one element of GET /api/v1/devices.
type DeviceJSON struct {
	ID       string            `json:"id"`
	Model    string            `json:"model"`
	Topic    string            `json:"topic"`
	Location map[string]string `json:"location"`
	LastSeen *time.Time        `json:"last_seen"` // null when never seen
}

func (s *server) devices(w http.ResponseWriter, r *http.Request) {
	if err := onlyKnown(r.URL.Query()); err != nil {
		s.fail(w, r, "devices", err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.storeTimeout)
	defer cancel()
	devs, err := s.st.Devices(ctx)
	if err != nil {
		s.fail(w, r, "devices", fmt.Errorf("list devices: %w", err))
		return
	}
	slices.SortFunc(devs, func(a, b store.Device) int { return cmp.Compare(a.ID, b.ID) })
	out := make([]DeviceJSON, 0, len(devs))
	for _, d := range devs {
		dj := DeviceJSON{ID: d.ID, Model: d.Model, Topic: d.Topic, Location: d.Location}
		if dj.Location == nil {
			dj.Location = map[string]string{}
		}
		if !d.LastSeen.IsZero() {
			t := d.LastSeen.UTC()
			dj.LastSeen = &t
		}
		out = append(out, dj)
	}
	writeJSON(w, http.StatusOK, out)
}

// ReadingJSON is one reading in a ReadingsJSON.
type ReadingJSON struct {
	Time    time.Time          `json:"time"`
	Seq     uint64             `json:"seq"`
	Metrics map[string]float64 `json:"metrics"`
}

// ReadingsJSON is the body of GET /api/v1/devices/{id}/readings. Readings are in
// (time, seq) order. Truncated says more readings match than were returned (the
// limit, or the cap on rows one request may scan, stopped the answer): a client
// wanting the rest asks again from the last reading's time and skips the
// (time, seq) pairs it already has.
type ReadingsJSON struct {
	DeviceID  string        `json:"device_id"`
	From      time.Time     `json:"from"`
	To        time.Time     `json:"to"`
	Metric    string        `json:"metric,omitempty"`
	Limit     int           `json:"limit"`
	Count     int           `json:"count"`
	Truncated bool          `json:"truncated"`
	Readings  []ReadingJSON `json:"readings"`
}

// readingsParams is a checked readings request.
type readingsParams struct {
	id       string
	from, to time.Time
	limit    int
	metric   string
}

func (s *server) parseReadings(r *http.Request) (p readingsParams, err error) {
	q := r.URL.Query()
	p.id = r.PathValue("id")
	if err = validName("id", p.id); err != nil {
		return p, err
	}
	if err = onlyKnown(q, "from", "to", "metric", "limit"); err != nil {
		return p, err
	}
	if p.from, p.to, err = s.timeRange(q); err != nil {
		return p, err
	}
	if p.limit, err = s.limit(q); err != nil {
		return p, err
	}
	p.metric, err = metric(q)
	return p, err
}

func (s *server) readings(w http.ResponseWriter, r *http.Request) {
	p, err := s.parseReadings(r)
	if err != nil {
		s.fail(w, r, "readings", err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.storeTimeout)
	defer cancel()
	out := ReadingsJSON{DeviceID: p.id, From: p.from, To: p.to, Metric: p.metric, Limit: p.limit, Readings: []ReadingJSON{}}
	scanned := 0
	seen := false // any row of this device in range, even one the metric filter drops
	// One row past the limit tells whether the answer is truncated without a second
	// store call. A metric filter may drop rows, so then read full pages instead.
	pageSize := p.limit + 1
	if p.metric != "" {
		pageSize = s.cfg.maxLimit
	}
	for row, err := range s.scan(ctx, p.id, p.from, p.to, pageSize) {
		if err != nil {
			s.fail(w, r, "readings", err)
			return
		}
		seen = true
		if scanned == s.cfg.maxScanRows {
			// Stop reading the store; the client continues from the last reading it
			// got, or narrows the range.
			out.Truncated = true
			break
		}
		scanned++
		m := row.Metrics
		if p.metric != "" {
			v, ok := m[p.metric]
			if !ok {
				continue
			}
			m = map[string]float64{p.metric: v}
		}
		if len(out.Readings) == p.limit {
			out.Truncated = true // there is at least one more matching reading
			break
		}
		out.Readings = append(out.Readings, ReadingJSON{Time: row.Time.UTC(), Seq: row.Seq, Metrics: m})
	}
	if !seen {
		if err := s.deviceExists(ctx, "id", p.id); err != nil {
			s.fail(w, r, "readings", err)
			return
		}
	}
	out.Count = len(out.Readings)
	writeJSON(w, http.StatusOK, out)
}

// deviceExists returns a *noDeviceError naming param if the store does not know
// id. Readings asks only when a query found no rows, so the common case costs no
// extra store call.
func (s *server) deviceExists(ctx context.Context, param, id string) error {
	devs, err := s.st.Devices(ctx)
	if err != nil {
		return fmt.Errorf("list devices: %w", err)
	}
	for _, d := range devs {
		if d.ID == id {
			return nil
		}
	}
	return &noDeviceError{param: param, id: id}
}

// scan yields the device's rows in [from, to) in (time, seq) order, reading the
// store page by page. A page restarts at the last row's time, so rows sharing
// that time are skipped by (time, seq) rather than lost or repeated.
func (s *server) scan(ctx context.Context, id string, from, to time.Time, pageSize int) iter.Seq2[store.Row, error] {
	return func(yield func(store.Row, error) bool) {
		var last store.Row
		haveLast := false
		for {
			rows, err := s.st.Readings(ctx, store.Query{DeviceID: id, From: from, To: to, Limit: pageSize})
			if err != nil {
				yield(store.Row{}, fmt.Errorf("read device %q: %w", id, err))
				return
			}
			// Stores return rows in clustering order; sorting again is cheap insurance
			// that the cursor below only moves forward.
			slices.SortFunc(rows, compareRows)
			progressed := false
			for _, row := range rows {
				if haveLast && compareRows(row, last) <= 0 {
					continue
				}
				progressed = true
				last, haveLast = row, true
				if !yield(row, nil) {
					return
				}
			}
			if len(rows) < pageSize {
				return // the store had no more
			}
			if !progressed {
				// A whole page of rows sharing one time: paging by time alone cannot get
				// past them, so read a bigger page, up to the scan cap. Beyond it, say so
				// rather than loop or drop rows.
				maxPage := min(s.cfg.maxScanRows, store.MaxLimit)
				if pageSize >= maxPage {
					yield(store.Row{}, fmt.Errorf("read device %q: more than %d rows at %s; cannot page past them", id, pageSize, last.Time.Format(time.RFC3339Nano)))
					return
				}
				pageSize = min(2*pageSize, maxPage)
				continue
			}
			from = last.Time
		}
	}
}

func compareRows(a, b store.Row) int {
	if c := a.Time.Compare(b.Time); c != 0 {
		return c
	}
	return cmp.Compare(a.Seq, b.Seq)
}

// exportParams is a checked export request; device "" means every device.
type exportParams struct {
	device   string
	from, to time.Time
	metric   string
}

func (s *server) parseExport(r *http.Request) (p exportParams, err error) {
	q := r.URL.Query()
	if err = onlyKnown(q, "device", "from", "to", "metric"); err != nil {
		return p, err
	}
	if q.Has("device") {
		p.device = q.Get("device")
		if err = validName("device", p.device); err != nil {
			return p, err
		}
	}
	if p.from, p.to, err = s.timeRange(q); err != nil {
		return p, err
	}
	p.metric, err = metric(q)
	return p, err
}

// exportCSV streams readings as CSV (device_id,time,seq,metric,value), one line per
// metric. Without "device" it exports every device, one after another.
func (s *server) exportCSV(w http.ResponseWriter, r *http.Request) {
	p, err := s.parseExport(r)
	if err != nil {
		s.fail(w, r, "export", err)
		return
	}
	// Resolve the devices before the first byte is written: after that the status
	// is 200 and an error can only cut the stream short.
	ids, err := s.exportDevices(r.Context(), p)
	if err != nil {
		s.fail(w, r, "export", err)
		return
	}
	name := "readings"
	if p.device != "" {
		name = sanitizeFilename(p.device)
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s_%s.csv"`, name, p.from.Format("20060102T150405Z")))
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if err := s.streamCSV(r.Context(), w, p, ids); err != nil {
		if errors.Is(err, errClientWrite) || r.Context().Err() != nil {
			s.cfg.logger.DebugContext(r.Context(), "api export: client left", "err", err)
			return
		}
		// The only signal left is to break the connection, which clients see as a
		// failed, not a complete, download.
		s.metrics.storeErrors.WithLabelValues("export").Inc()
		s.cfg.logger.ErrorContext(r.Context(), "api export aborted", "err", err)
		panic(http.ErrAbortHandler)
	}
}

func (s *server) exportDevices(ctx context.Context, p exportParams) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.storeTimeout)
	defer cancel()
	if p.device != "" {
		return []string{p.device}, s.deviceExists(ctx, "device", p.device)
	}
	devs, err := s.st.Devices(ctx)
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	ids := make([]string, 0, len(devs))
	for _, d := range devs {
		ids = append(ids, d.ID)
	}
	slices.Sort(ids)
	return ids, nil
}

// errClientWrite marks a failed write to the client: the client's problem, not
// the store's.
var errClientWrite = errors.New("write to client")

// flushEvery is how many readings go out per flush: small enough that a client
// sees progress, large enough that flushes do not dominate.
const flushEvery = 1000

func (s *server) streamCSV(ctx context.Context, w http.ResponseWriter, p exportParams, ids []string) error {
	rc := http.NewResponseController(w)
	cw := csv.NewWriter(w)
	flush := func() error {
		cw.Flush()
		if err := cw.Error(); err != nil {
			return fmt.Errorf("%w: %w", errClientWrite, err)
		}
		// A slow reader gets a fresh deadline per chunk instead of one for the
		// whole, unboundedly long, export.
		_ = rc.SetWriteDeadline(time.Now().Add(30 * time.Second))
		_ = rc.Flush()
		return nil
	}
	_ = cw.Write([]string{"device_id", "time", "seq", "metric", "value"})
	pending := 0
	var names []string
	for _, id := range ids {
		if err := func() error {
			// Each device gets its own store timeout: the export as a whole may
			// legitimately take longer than one store call.
			ctx, cancel := context.WithTimeout(ctx, s.cfg.storeTimeout)
			defer cancel()
			for row, err := range s.scan(ctx, id, p.from, p.to, s.cfg.maxLimit) {
				if err != nil {
					return err
				}
				names = names[:0]
				for k := range row.Metrics {
					if p.metric == "" || k == p.metric {
						names = append(names, k)
					}
				}
				slices.Sort(names)
				t := row.Time.UTC().Format(time.RFC3339Nano)
				seq := strconv.FormatUint(row.Seq, 10)
				for _, k := range names {
					_ = cw.Write([]string{id, t, seq, k, strconv.FormatFloat(row.Metrics[k], 'g', -1, 64)})
				}
				if pending++; pending == flushEvery {
					pending = 0
					if err := flush(); err != nil {
						return err
					}
				}
			}
			return nil
		}(); err != nil {
			return err
		}
	}
	return flush()
}

func sanitizeFilename(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			b[i] = '_'
		}
	}
	return string(b)
}
