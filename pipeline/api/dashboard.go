package api

import (
	"bytes"
	"embed"
	"html/template"
	"net/http"
	"time"
)

//go:embed static/*.html static/*.js static/*.css static/*.svg
var staticFS embed.FS

// indexTmpl is parsed at init because a broken embedded template is a build
// defect, not a runtime condition.
var indexTmpl = template.Must(template.ParseFS(staticFS, "static/index.html"))

// DefaultDashboardPoll is how often the dashboard's auto-update polls the API.
const DefaultDashboardPoll = 5 * time.Second

// WithDashboardPoll sets the dashboard's auto-update interval.
func WithDashboardPoll(d time.Duration) Option {
	return func(c *config) { c.poll = d }
}

// The dashboard loads only its own files, so a strict policy costs nothing and
// keeps injected or third-party scripts out.
const dashboardCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", dashboardCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}

func (s *server) dashboardIndex(w http.ResponseWriter, r *http.Request) {
	var buf bytes.Buffer
	err := indexTmpl.Execute(&buf, struct {
		MaxLimit   int
		PollMillis int64
	}{s.cfg.maxLimit, s.cfg.poll.Milliseconds()})
	if err != nil {
		s.cfg.logger.ErrorContext(r.Context(), "api dashboard template", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	securityHeaders(w.Header())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(buf.Bytes())
}

func (s *server) dashboardStatic() http.Handler {
	files := http.FileServerFS(staticFS)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/static/index.html" || r.URL.Path == "/static/" {
			// The template is served, rendered, at / only.
			http.NotFound(w, r)
			return
		}
		securityHeaders(w.Header())
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}
