// Package api serves the reference pipeline's stored readings over HTTP: a JSON
// REST API, a CSV export, health and Prometheus endpoints, and the dashboard.
package api

import (
	"net/http"

	"github.com/citybench/citybench/pipeline/store"
)

// Option configures the handler returned by New.
type Option func(*config)

type config struct{}

// New returns the API's HTTP handler, reading from st.
func New(st store.Store, opts ...Option) http.Handler {
	cfg := config{}
	for _, o := range opts {
		o(&cfg)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
	})
	return mux
}
