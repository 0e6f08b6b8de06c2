package api

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/citybench/citybench/pipeline/store"
	"github.com/citybench/citybench/pipeline/store/memory"
)

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// newLoopbackServer serves h on 127.0.0.1 for the life of the test.
func newLoopbackServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// newTestStore is the real in-memory store, which shares the Cassandra store's
// semantics (millisecond times, (time, seq) order, limits).
func newTestStore() store.Store { return memory.New() }
