package capacity

import (
	"context"
	"sync"
	"time"

	"github.com/citybench/citybench/harness/target"
	"github.com/citybench/citybench/reports/result"
)

// Shared keeps one running topology under every step: the first Start brings
// the target up, later Starts return the same endpoints, Stop does nothing, and
// Close tears it down at the end of the search.
type Shared interface {
	target.Target
	Endpoints() (target.Endpoints, bool)
	Inner() target.Target
	Close(ctx context.Context) error
}

// Share wraps t. A target that samples its components' resources stays a
// target.ResourceSampler.
func Share(t target.Target) Shared {
	s := &shared{inner: t}
	if _, ok := t.(target.ResourceSampler); ok {
		return &sharedSampler{s}
	}
	return s
}

type shared struct {
	inner   target.Target
	mu      sync.Mutex
	started bool
	eps     target.Endpoints
}

func (s *shared) Start(ctx context.Context) (target.Endpoints, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return s.eps, nil
	}
	eps, err := s.inner.Start(ctx)
	if err != nil {
		return eps, err
	}
	s.eps, s.started = eps, true
	return eps, nil
}

func (s *shared) Describe() result.Target                       { return s.inner.Describe() }
func (s *shared) Components() map[string]string                 { return s.inner.Components() }
func (s *shared) Counters(ctx context.Context) map[string]int64 { return s.inner.Counters(ctx) }
func (s *shared) Stop(context.Context) error                    { return nil }
func (s *shared) Inner() target.Target                          { return s.inner }

func (s *shared) Endpoints() (target.Endpoints, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.eps, s.started
}

func (s *shared) Close(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.started = false
	return s.inner.Stop(ctx)
}

type sharedSampler struct{ *shared }

func (s *sharedSampler) SampleResources(ctx context.Context, origin time.Time) (<-chan result.ResourceSample, error) {
	return s.inner.(target.ResourceSampler).SampleResources(ctx, origin)
}
