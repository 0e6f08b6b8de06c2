package taps

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/citybench/citybench/harness/ledger"
)

// API polls the web API for a sample of devices and records the api stage when a
// reading first shows up: the latency a dashboard user would see, polling
// interval included.
type API struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	errs   int
	last   error
}

// APIConfig says what to poll.
type APIConfig struct {
	BaseURL  string
	Devices  []int         // device indexes to poll (the sample)
	Interval time.Duration // between polls of one device
	Client   *http.Client
}

type readingsPage struct {
	Readings []struct {
		Seq uint64 `json:"seq"`
	} `json:"readings"`
}

// StartAPI polls until Stop. Each sampled device is polled by one goroutine.
func StartAPI(ctx context.Context, cfg APIConfig, l *ledger.Ledger) *API {
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 5 * time.Second}
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a := &API{cancel: cancel}
	from := strconv.FormatInt(l.Start().Add(-time.Second).UnixMilli(), 10)
	for _, dev := range cfg.Devices {
		d := l.Plan().Devices[dev]
		u := fmt.Sprintf("%s/api/v1/devices/%s/readings?from=%s&limit=10000", cfg.BaseURL, url.PathEscape(d.ID), from)
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			t := time.NewTicker(cfg.Interval)
			defer t.Stop()
			for {
				a.poll(runCtx, cfg.Client, u, dev, l)
				select {
				case <-runCtx.Done():
					return
				case <-t.C:
				}
			}
		}()
	}
	return a
}

func (a *API) poll(ctx context.Context, c *http.Client, u string, dev int, l *ledger.Ledger) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		a.fail(err)
		return
	}
	resp, err := c.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			a.fail(err)
		}
		return
	}
	defer resp.Body.Close()
	now := time.Now().UnixNano()
	if resp.StatusCode == http.StatusNotFound {
		return // device not stored yet
	}
	if resp.StatusCode != http.StatusOK {
		a.fail(fmt.Errorf("GET %s: %s", u, resp.Status))
		return
	}
	var page readingsPage
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		a.fail(fmt.Errorf("GET %s: decode: %w", u, err))
		return
	}
	for _, r := range page.Readings {
		if r.Seq == 0 || r.Seq > uint64(len(l.Plan().Devices[dev].Messages)) || l.Seen(ledger.API, dev, r.Seq) {
			continue
		}
		l.Observe(ledger.API, dev, r.Seq, now)
	}
}

func (a *API) fail(err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.errs++
	a.last = err
}

// Stop ends polling and reports how many polls failed and the last failure.
func (a *API) Stop() (failures int, last error) {
	a.cancel()
	a.wg.Wait()
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.errs, a.last
}
