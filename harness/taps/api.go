package taps

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/citybench/citybench/harness/ledger"
)

// API polls the web API for a sample of devices and records the api stage when a
// reading first shows up: the latency a dashboard user would see, polling
// interval included. Each poll asks only for readings from the device's first
// one not seen yet (history is never fetched twice) and pages on while the API
// says the answer was truncated, so no reading is ever missed for a page limit.
type API struct {
	cfg     APIConfig
	env     Env
	outages *outages
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	// draining is set by Stop once the store read-back has finished: pollers then
	// look back to each device's first unseen reading however old, and say when
	// they have caught up with the store.
	draining atomic.Bool
	caughtUp []atomic.Bool // by position in cfg.Devices
	until    atomic.Int64  // offset (ns) of the end of the load, set by Stop

	mu   sync.Mutex
	errs int
	last error
}

// APIConfig says what to poll.
type APIConfig struct {
	BaseURL  string
	Devices  []int         // device indexes to poll (the sample)
	Interval time.Duration // between polls of one device
	// Limit is the page size asked for (the API's default cap when 0).
	Limit  int
	Client *http.Client
}

// DefaultAPIPage is the page size the tap asks for: small enough that a page is
// cheap for the API, large enough that a poll rarely needs a second one.
const DefaultAPIPage = 1000

// apiLookback bounds how far behind the newest reading a poll reaches for a
// reading the API has not shown yet (a reading lost in the pipeline must not make
// every later poll fetch everything since). The drain looks back without bound.
const apiLookback = 10 * time.Second

type readingsPage struct {
	Truncated bool `json:"truncated"`
	Readings  []struct {
		Time time.Time `json:"time"`
		Seq  uint64    `json:"seq"`
	} `json:"readings"`
}

// NewAPI returns the API poller; Start begins polling.
func NewAPI(cfg APIConfig) *API {
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 5 * time.Second}
	}
	if cfg.Limit <= 0 {
		cfg.Limit = DefaultAPIPage
	}
	return &API{cfg: cfg, caughtUp: make([]atomic.Bool, len(cfg.Devices))}
}

// Stage is the api stage.
func (a *API) Stage() ledger.Stage { return ledger.API }

// Follows is the store: the poller has caught up when it has seen what the
// store read-back found.
func (a *API) Follows() ledger.Stage { return ledger.Store }

// Start polls until Stop; each sampled device is polled by one goroutine, from
// the moment load starts.
func (a *API) Start(ctx context.Context, env Env) error {
	a.env = env
	a.until.Store(int64(env.Plan.End))
	a.outages = newOutages(ledger.API, env.Rec.Start)
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a.cancel = cancel
	for i, dev := range a.cfg.Devices {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			t := time.NewTicker(a.cfg.Interval)
			defer t.Stop()
			for {
				select {
				case <-runCtx.Done():
					return
				case <-t.C:
				}
				if a.env.Rec.Start().IsZero() {
					continue // the run's time line is not fixed yet
				}
				a.caughtUp[i].Store(a.poll(runCtx, dev))
			}
		}()
	}
	return nil
}

// poll fetches the device's new readings, page after page, and reports whether
// the poller has caught up with the store (only meaningful while draining).
func (a *API) poll(ctx context.Context, dev int) bool {
	draining := a.draining.Load() // once for the whole poll: it decides how far back to look
	until := time.Duration(a.until.Load())
	from, ok := a.from(dev, until, draining)
	if !ok {
		return true // every reading the run offered is seen
	}
	if from > time.Now().UnixMilli() {
		return false // not due yet: a reading's time is its intended send time (and the API refuses from > to)
	}
	for range 1000 { // bounded: 1,000 pages per poll is far beyond any device's backlog
		page, err := a.get(ctx, dev, from)
		if err != nil {
			if ctx.Err() == nil {
				a.fail(err)
			}
			return false
		}
		a.outages.up("poll")
		now := time.Now().UnixNano()
		for _, r := range page.Readings {
			if r.Seq == 0 || r.Seq > a.env.Rec.Planned(dev) || a.env.Rec.Seen(ledger.API, dev, r.Seq) {
				continue
			}
			a.env.Rec.Observe(ledger.API, dev, r.Seq, now)
		}
		if !page.Truncated || len(page.Readings) == 0 {
			break
		}
		// Readings are in (time, seq) order and from is inclusive: ask again from
		// the last reading's time and skip what is seen. Only a page whose every
		// reading shares one millisecond could not advance so; step past it.
		next := page.Readings[len(page.Readings)-1].Time.UnixMilli()
		if next <= from {
			next = from + 1
		}
		from = next
	}
	return draining && a.storeCaughtUp(dev, until)
}

// from is where the device's next poll starts (Unix ms): its first reading the
// API has not shown yet, but not further back than apiLookback before now,
// except while draining.
func (a *API) from(dev int, until time.Duration, draining bool) (int64, bool) {
	rec := a.env.Rec
	first, ok := rec.FirstUnseen(ledger.API, dev, until)
	if !ok {
		return 0, false
	}
	at := time.Duration(rec.Intended(dev, first) - rec.Start().UnixNano())
	if !draining {
		at = max(at, time.Since(rec.Start())-apiLookback)
	}
	return rec.Start().Add(at).UnixMilli(), true
}

func (a *API) get(ctx context.Context, dev int, from int64) (*readingsPage, error) {
	u := fmt.Sprintf("%s/api/v1/devices/%s/readings?from=%s&limit=%d", a.cfg.BaseURL,
		url.PathEscape(a.env.Plan.Devices[dev].ID), strconv.FormatInt(from, 10), a.cfg.Limit)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := a.cfg.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var page readingsPage
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return &page, nil // device not stored yet
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		return nil, fmt.Errorf("GET %s: decode: %w", u, err)
	}
	return &page, nil
}

// storeCaughtUp: every message of dev the store holds, the API has shown.
func (a *API) storeCaughtUp(dev int, until time.Duration) bool {
	for m := range a.env.Plan.Devices[dev].All() {
		if m.At >= until {
			break
		}
		if a.env.Rec.Seen(ledger.Store, dev, m.Seq) && !a.env.Rec.Seen(ledger.API, dev, m.Seq) {
			return false
		}
	}
	return true
}

func (a *API) fail(err error) {
	a.outages.down("poll", err.Error())
	a.mu.Lock()
	defer a.mu.Unlock()
	a.errs++
	a.last = err
}

// Stop waits until the pollers have shown every reading the store read-back
// found (or ctx ends), then ends polling and reports how many polls failed.
func (a *API) Stop(ctx context.Context, until time.Duration) Report {
	a.until.Store(int64(until))
	a.draining.Store(true)
	waitFor(ctx, func() bool {
		for i := range a.caughtUp {
			if !a.caughtUp[i].Load() {
				return false
			}
		}
		return true
	})
	a.cancel()
	a.wg.Wait()
	rep := Report{Stage: ledger.API, Outages: a.outages.spans(), Counters: map[string]int64{}}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.errs > 0 {
		rep.Counters["api_poll_failures"] = int64(a.errs)
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("%d API polls failed; last: %v", a.errs, a.last))
	}
	if a.outages.isDown() {
		rep.Unverified = func(int, time.Duration) bool { return true }
	}
	return rep
}
