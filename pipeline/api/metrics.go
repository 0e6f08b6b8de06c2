package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

type metrics struct {
	requests    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	inFlight    prometheus.Gauge
	storeErrors *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "pipeline", Subsystem: "api", Name: "requests_total",
			Help: "HTTP requests served, by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "pipeline", Subsystem: "api", Name: "request_duration_seconds",
			Help: "Time to serve a request (until the handler returned), by route pattern, method and status code.",
			// From sub-millisecond cache-like reads up to long CSV exports.
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route", "method", "code"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "pipeline", Subsystem: "api", Name: "requests_in_flight",
			Help: "Requests being served.",
		}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "pipeline", Subsystem: "api", Name: "store_errors_total",
			Help: "Store calls that failed while serving a request, by operation.",
		}, []string{"op"}),
	}
	reg.MustRegister(m.requests, m.latency, m.inFlight, m.storeErrors)
	return m
}

func (m *metrics) handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg, EnableOpenMetrics: true})
}

// instrument labels requests with the ServeMux pattern that matched them rather
// than the raw path: a path carries device IDs, which would make the label set
// unbounded.
func (m *metrics) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		m.inFlight.Inc()
		defer m.inFlight.Dec()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			code := strconv.Itoa(sw.status())
			if p := recover(); p != nil {
				// An aborted stream (http.ErrAbortHandler) is still a request served,
				// and a failed one: count it before the server handles the panic.
				code = "aborted"
				defer panic(p)
			}
			m.observe(r, code, start)
		}()
		next.ServeHTTP(sw, r)
	})
}

func (m *metrics) observe(r *http.Request, code string, start time.Time) {
	route := r.Pattern
	if route == "" {
		route = "unmatched"
	}
	method := r.Method
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodDelete, http.MethodPatch, http.MethodOptions:
	default:
		method = "other" // clients choose methods freely; keep the label set bounded
	}
	m.requests.WithLabelValues(route, method, code).Inc()
	m.latency.WithLabelValues(route, method, code).Observe(time.Since(start).Seconds())
}

// statusWriter records the status code. It implements Unwrap so that
// http.ResponseController still reaches the connection's Flush and SetWriteDeadline.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}
