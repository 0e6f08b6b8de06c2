// Package api serves the reference pipeline's stored readings over HTTP: a JSON
// REST API, a CSV export, health and Prometheus endpoints, and the dashboard.
//
// # Endpoints
//
//	GET /api/v1/devices
//	    JSON list, sorted by id: {id, model, topic, location, last_seen}.
//	GET /api/v1/devices/{id}/readings?from&to&metric&limit
//	    JSON ReadingsJSON: readings in [from, to) in (time, seq) order.
//	    from, to: RFC 3339 or Unix milliseconds; to defaults to now, from to
//	    to minus 24 h (WithDefaultWindow); to−from at most 31 days (WithMaxRange).
//	    metric: keep only readings that have it, and only it.
//	    limit: 1..10000 (WithLimits), default 1000; "truncated" says more match.
//	GET /api/v1/export.csv?device&from&to&metric
//	    Streams device_id,time,seq,metric,value, one line per metric; every
//	    device when device is absent. Same time-range rules as readings.
//	GET /healthz   the process serves requests.
//	GET /readyz    the store answers (Ping when the store has it, else Devices).
//	GET /metrics   Prometheus: pipeline_api_requests_total and
//	               pipeline_api_request_duration_seconds by route pattern,
//	               method and code; requests_in_flight; store_errors_total.
//	GET /          the dashboard (WithoutDashboard leaves it out).
//
// # Errors
//
// A bad parameter, including an unknown or repeated one, is 400 with
// {"error": "...", "param": "name"}; an unknown device is 404 with the same
// shape; a store that timed out or is closed is 503; other store failures are
// 500 without detail (the detail is logged). A CSV export that fails after its
// first byte breaks the connection, so it never looks complete.
package api

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/citybench/citybench/pipeline/store"
)

// Defaults. The caps exist to protect the store: one request must not be able to
// ask Cassandra for months of data or an unbounded number of rows.
const (
	DefaultLimit        = 1000
	DefaultMaxLimit     = 10000
	DefaultWindow       = 24 * time.Hour
	DefaultMaxRange     = 31 * 24 * time.Hour
	DefaultStoreTimeout = 10 * time.Second
	DefaultReadyTimeout = 2 * time.Second
	// DefaultMaxScanRows bounds how many rows one readings request may read from the
	// store when a metric filter discards rows (ten full pages).
	DefaultMaxScanRows = 10 * DefaultMaxLimit
)

// Option configures the handler returned by New.
type Option func(*config)

type config struct {
	registry     *prometheus.Registry
	logger       *slog.Logger
	now          func() time.Time
	defaultLimit int
	maxLimit     int
	window       time.Duration
	maxRange     time.Duration
	storeTimeout time.Duration
	readyTimeout time.Duration
	maxScanRows  int
	dashboard    bool
	poll         time.Duration
}

// WithRegistry makes the handler register its metrics on reg and serve reg on
// /metrics, so a process can expose its other collectors on the same endpoint.
// Without it the handler creates its own registry with Go and process collectors.
func WithRegistry(reg *prometheus.Registry) Option {
	return func(c *config) { c.registry = reg }
}

// WithLogger sets where request failures are logged (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.logger = l }
}

// WithClock replaces time.Now, which decides the default end of a time range.
func WithClock(now func() time.Time) Option {
	return func(c *config) { c.now = now }
}

// WithLimits sets the default and the maximum of the readings limit parameter.
func WithLimits(defaultLimit, maxLimit int) Option {
	return func(c *config) { c.defaultLimit, c.maxLimit = defaultLimit, maxLimit }
}

// WithMaxRange caps to−from of any query; longer ranges are refused with 400.
func WithMaxRange(d time.Duration) Option {
	return func(c *config) { c.maxRange = d }
}

// WithDefaultWindow sets how far back from "to" a query reaches when it gives no "from".
func WithDefaultWindow(d time.Duration) Option {
	return func(c *config) { c.window = d }
}

// WithStoreTimeout bounds each store call made while serving a request.
func WithStoreTimeout(d time.Duration) Option {
	return func(c *config) { c.storeTimeout = d }
}

// WithMaxScanRows bounds the rows one readings request may read from the store.
func WithMaxScanRows(n int) Option {
	return func(c *config) { c.maxScanRows = n }
}

// WithoutDashboard leaves out the dashboard at /, for API-only deployments.
func WithoutDashboard() Option {
	return func(c *config) { c.dashboard = false }
}

// New returns the API's HTTP handler, reading from st.
func New(st store.Store, opts ...Option) http.Handler {
	cfg := config{
		logger:       slog.Default(),
		now:          time.Now,
		defaultLimit: DefaultLimit,
		maxLimit:     DefaultMaxLimit,
		window:       DefaultWindow,
		maxRange:     DefaultMaxRange,
		storeTimeout: DefaultStoreTimeout,
		readyTimeout: DefaultReadyTimeout,
		maxScanRows:  DefaultMaxScanRows,
		dashboard:    true,
		poll:         DefaultDashboardPoll,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.maxLimit <= 0 {
		cfg.maxLimit = DefaultMaxLimit
	}
	// A page is at most limit+1 rows and must be a query the store accepts.
	cfg.maxLimit = min(cfg.maxLimit, store.MaxLimit-1)
	if cfg.defaultLimit <= 0 || cfg.defaultLimit > cfg.maxLimit {
		cfg.defaultLimit = min(DefaultLimit, cfg.maxLimit)
	}
	// Ranges beyond what the store accepts would turn into 500s; refuse them as 400s.
	if maxStore := store.MaxQueryDays * 24 * time.Hour; cfg.maxRange <= 0 || cfg.maxRange > maxStore {
		cfg.maxRange = min(DefaultMaxRange, maxStore)
	}
	if cfg.window <= 0 || cfg.window > cfg.maxRange {
		cfg.window = min(DefaultWindow, cfg.maxRange)
	}
	if cfg.storeTimeout <= 0 {
		cfg.storeTimeout = DefaultStoreTimeout
	}
	if cfg.poll < 100*time.Millisecond {
		cfg.poll = DefaultDashboardPoll
	}
	if cfg.maxScanRows < cfg.maxLimit {
		cfg.maxScanRows = cfg.maxLimit
	}
	if cfg.registry == nil {
		cfg.registry = prometheus.NewRegistry()
		cfg.registry.MustRegister(
			collectors.NewGoCollector(),
			collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		)
	}
	s := &server{cfg: cfg, st: st, metrics: newMetrics(cfg.registry)}
	return s.routes()
}

// NewServer wraps h in an http.Server with timeouts suited to this API. It sets no
// WriteTimeout because CSV exports stream for as long as they need; the export
// handler extends its own write deadline page by page instead.
func NewServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
}

type server struct {
	cfg     config
	st      store.Store
	metrics *metrics
}

func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", s.metrics.handler(s.cfg.registry))
	mux.HandleFunc("GET /api/v1/devices", s.devices)
	mux.HandleFunc("GET /api/v1/devices/{id}/readings", s.readings)
	mux.HandleFunc("GET /api/v1/export.csv", s.exportCSV)
	// Anything else under /api/ answers in JSON, so API clients never get HTML.
	mux.HandleFunc("/api/", s.apiFallback)
	if s.cfg.dashboard {
		mux.HandleFunc("GET /{$}", s.dashboardIndex)
		mux.Handle("GET /static/", s.dashboardStatic())
	}
	return s.metrics.instrument(mux)
}
