package api

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// newLoopbackServer serves h on 127.0.0.1 for the life of the test.
func newLoopbackServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
