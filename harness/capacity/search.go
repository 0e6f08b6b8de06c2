// Package capacity finds the highest offered rate a pipeline sustains under a
// scenario's SLOs: settle, double to bracket pass and fail, bisect to a precision,
// then confirm with a longer hold. It judges every step, names the component
// that gave out first and sizes a city and its storage from the answer. The
// steps themselves are run by a StepRunner, so the search is tested against
// simulated systems and driven by harness.Run on a real one.
package capacity

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/citybench/citybench/reports/result"
)

// Step kinds, in the order a search uses them.
const (
	KindSettle  = "settle"
	KindBracket = "bracket"
	KindBisect  = "bisect"
	KindConfirm = "confirm"
)

// Why a search stopped.
const (
	StopConverged   = "converged"   // bracket narrowed to the precision and confirmed
	StopMaxRate     = "max-rate"    // --max-rate passed: the pipeline may sustain more
	StopGenerator   = "generator"   // the load generator saturated before the pipeline
	StopNoPass      = "no-pass"     // not even the lowest rate tried passed
	StopInterrupted = "interrupted" // Ctrl-C: what was found so far
	StopUnconfirmed = "unconfirmed" // the answer failed its confirming hold twice
	StopSteps       = "step-limit"  // the step bound was reached
	StopError       = "error"       // a step could not run (the error says why)
)

// Step is one run the search asks for.
type Step struct {
	Index int
	Kind  string
	Rate  float64 // offered msgs/s
	Hold  time.Duration
}

// StepRunner runs the scenario at a rate for a hold and returns what it
// measured (StepEntry without Pass and Reasons: the search judges).
type StepRunner interface {
	RunStep(ctx context.Context, s Step) (result.StepEntry, error)
}

// Config bounds a search.
type Config struct {
	StartRate   float64 // the first (settle) step's rate: the scenario's own
	MaxRate     float64 // 0: no upper bound
	MinRate     float64 // halving below a failing start stops here (default StartRate/64)
	Precision   float64 // bisect until (fail − pass) ≤ Precision × pass (default 0.05)
	StepHold    time.Duration
	ConfirmHold time.Duration
	MaxSteps    int // default 30
	Criteria    Criteria
	// OnStep is told about every judged step (progress, saving partial answers).
	OnStep func(result.StepEntry)
}

// Outcome is what a search found.
type Outcome struct {
	Max          float64
	Confirmed    bool
	Bracket      result.Bracket
	NonMonotonic bool
	Notes        []string
	Stopped      string
	Steps        []result.StepEntry
}

// ErrGenerator is returned inside an Outcome's Notes when the generator saturated.
const generatorNote = "the generator, not the pipeline, is the limit: its lag exceeded the scenario's bound at %.0f msgs/s — spread the load over more harness workers (or a bigger load host) and search again"

type searcher struct {
	cfg   Config
	r     StepRunner
	out   Outcome
	stop  bool
	steps int
}

// Search runs the search. On ctx cancellation or a runner error it returns the
// outcome so far (Stopped says why) together with the error.
func Search(ctx context.Context, r StepRunner, cfg Config) (Outcome, error) {
	if cfg.StartRate <= 0 {
		return Outcome{}, errors.New("capacity: start rate must be positive")
	}
	if cfg.MaxRate > 0 && cfg.StartRate > cfg.MaxRate {
		cfg.StartRate = cfg.MaxRate
	}
	if cfg.Precision <= 0 {
		cfg.Precision = 0.05
	}
	if cfg.MinRate <= 0 {
		cfg.MinRate = cfg.StartRate / 64
	}
	if cfg.MaxSteps <= 0 {
		cfg.MaxSteps = 30
	}
	s := &searcher{cfg: cfg, r: r}
	err := s.run(ctx)
	if err != nil && s.out.Stopped == "" {
		s.out.Stopped = StopError
		if ctx.Err() != nil {
			s.out.Stopped = StopInterrupted
		}
	}
	if s.out.Max == 0 { // stopped early: the highest pass so far, unconfirmed
		s.out.Max = s.highestPassBelow(math.Inf(1))
	}
	s.out.Bracket = result.Bracket{Pass: s.out.Max, Fail: s.lowestFailAbove(s.out.Max)}
	return s.out, err
}

func (s *searcher) run(ctx context.Context) error {
	lo, hi := 0.0, 0.0 // highest pass, lowest fail above it (0: none yet)
	pass, err := s.try(ctx, KindSettle, s.cfg.StartRate, s.cfg.StepHold)
	if err != nil || s.stop {
		return err
	}
	if pass {
		lo = s.cfg.StartRate
	} else {
		hi = s.cfg.StartRate
	}
	// Bracket: double up from a pass, or halve down from a fail.
	for lo > 0 && hi == 0 {
		next := lo * 2
		if s.cfg.MaxRate > 0 && next > s.cfg.MaxRate {
			next = s.cfg.MaxRate
		}
		if next <= lo {
			s.out.Stopped = StopMaxRate
			s.note("every step passed up to --max-rate %.0f msgs/s: the pipeline may sustain more", s.cfg.MaxRate)
			break
		}
		if err := s.probe(ctx, KindBracket, next, &lo, &hi); err != nil || s.stop {
			return err
		}
	}
	for lo == 0 {
		if hi/2 < s.cfg.MinRate {
			s.out.Stopped = StopNoPass
			s.note("no rate down to %.0f msgs/s passed", hi)
			return nil
		}
		if err := s.probe(ctx, KindBracket, hi/2, &lo, &hi); err != nil || s.stop {
			return err
		}
	}
	return s.narrow(ctx, lo, hi)
}

// narrow bisects [lo, hi] and confirms lo with the longer hold; an answer that
// fails its confirmation is searched again below it, once.
func (s *searcher) narrow(ctx context.Context, lo, hi float64) error {
	for attempt := 0; ; attempt++ {
		for hi > 0 && hi-lo > s.cfg.Precision*lo {
			if err := s.probe(ctx, KindBisect, (lo+hi)/2, &lo, &hi); err != nil || s.stop {
				return err
			}
		}
		s.out.Max = lo
		pass, err := s.try(ctx, KindConfirm, lo, s.cfg.ConfirmHold)
		if err != nil || s.stop {
			return err
		}
		if pass {
			s.out.Confirmed = true
			if s.out.Stopped == "" {
				s.out.Stopped = StopConverged
			}
			return nil
		}
		below := s.highestPassBelow(lo)
		if attempt >= 1 || below < s.cfg.MinRate {
			s.out.Stopped = StopUnconfirmed
			s.note("%.0f msgs/s passed its %s steps but not the %s confirming hold: the answer is unconfirmed", lo, s.cfg.StepHold, s.cfg.ConfirmHold)
			return nil
		}
		s.note("%.0f msgs/s failed its %s confirming hold: searching below it", lo, s.cfg.ConfirmHold)
		hi, lo = lo, below
		s.out.Stopped = ""
	}
}

// probe runs a step at rate and moves the bracket's pass (lo) or fail (hi) end to it.
func (s *searcher) probe(ctx context.Context, kind string, rate float64, lo, hi *float64) error {
	pass, err := s.try(ctx, kind, rate, s.cfg.StepHold)
	if err != nil || s.stop {
		return err
	}
	if pass {
		*lo = rate
	} else {
		*hi = rate
	}
	return nil
}

// try runs and judges a step at rate; it sets s.stop when the search must end.
// An inconclusive verdict is run again: a failure while other work held the
// host's CPUs (up to maxRepeats times), and a generator that lagged while the
// pipeline kept up and the host had CPU to spare (once, then the search stops
// on it). A generator starved because the host was full of the pipeline's own
// work is that host's failure, and the search goes on below it.
func (s *searcher) try(ctx context.Context, kind string, rate float64, hold time.Duration) (bool, error) {
	for attempt := 0; ; attempt++ {
		e, err := s.once(ctx, kind, rate, hold)
		if err != nil || s.stop {
			return false, err
		}
		if !e.Pass && s.cfg.Criteria.disturbed(e) && attempt < maxRepeats {
			s.repeat(fmt.Sprintf("at %.0f msgs/s other processes took %.0f %% of the host's %.0f %% CPU: the failure is inconclusive, the step is run again", e.OfferedRate, e.OtherCPU, capacityOf(e)))
			if err := s.waitQuiet(ctx); err != nil {
				return false, err
			}
			continue
		}
		if e.GeneratorSaturated && len(behind(e, s.cfg.Criteria)) == 0 && !starved(e) {
			if attempt == 0 {
				s.repeat(fmt.Sprintf("the generator lagged at %.0f msgs/s while the pipeline kept up: the step was repeated once, in case the host was busy only for a moment", e.OfferedRate))
				continue
			}
			s.out.Stopped = StopGenerator
			s.note(generatorNote, e.OfferedRate)
			s.stop = true
			return false, nil
		}
		s.explain(e)
		if above := s.highestPassAbove(rate); !e.Pass && above > 0 {
			s.out.NonMonotonic = true
			s.note("non-monotonic: %.0f msgs/s failed after %.0f msgs/s passed", rate, above)
		}
		return e.Pass, nil
	}
}

// quietLimit bounds the wait for other work on the host to subside before a repeat.
const quietLimit = time.Minute

// waitQuiet gives other work on the host up to quietLimit to subside before
// an inconclusive step is run again, when the runner can tell.
func (s *searcher) waitQuiet(ctx context.Context) error {
	q, ok := s.r.(Quieter)
	if !ok {
		return nil
	}
	start := time.Now()
	other, err := q.WaitQuiet(ctx, s.cfg.Criteria.withDefaults().BusyHostShare, quietLimit)
	if err != nil {
		if ctx.Err() != nil {
			s.out.Stopped = StopInterrupted
		}
		return err
	}
	s.note("waited %s for other work on the host to subside before the repeat (it then took %.0f %% of the CPUs)", time.Since(start).Round(time.Second), 100*other)
	return nil
}

// repeat marks the last step as superseded by the run about to start.
func (s *searcher) repeat(why string) {
	s.out.Steps[len(s.out.Steps)-1].Repeated = true
	s.note("%s", why)
}

// explain notes why a failure with a lagging generator still counts, and
// that a failure taken on a busy host after every repeat is the host's as much
// as the pipeline's.
func (s *searcher) explain(e result.StepEntry) {
	switch {
	case e.Pass:
	case e.GeneratorSaturated && len(behind(e, s.cfg.Criteria)) > 0:
		// The pipeline fell behind even what the lagging generator did send.
		s.note("at %.0f msgs/s the generator lagged too, but the pipeline fell behind what was sent: counted as the pipeline's failure", e.OfferedRate)
	case e.GeneratorSaturated:
		s.note("at %.0f msgs/s the generator lagged while the host's CPUs were %.0f %% of %.0f %% busy, %.0f %% of it the harness and the pipeline's components: counted as this host's failure (harness and pipeline share it)", e.OfferedRate, e.HostCPU, capacityOf(e), e.HostCPU-e.OtherCPU)
	}
	if !e.Pass && s.cfg.Criteria.disturbed(e) {
		s.note("at %.0f msgs/s other processes still took %.0f %% of the host's CPU after %d repeats: this failure may be the busy host's", e.OfferedRate, e.OtherCPU, maxRepeats)
	}
}

// once runs and judges one step and records it.
func (s *searcher) once(ctx context.Context, kind string, rate float64, hold time.Duration) (result.StepEntry, error) {
	if err := ctx.Err(); err != nil {
		s.out.Stopped = StopInterrupted
		return result.StepEntry{}, err
	}
	if s.steps >= s.cfg.MaxSteps {
		s.out.Stopped = StopSteps
		s.note("stopped after %d steps", s.steps)
		s.stop = true
		return result.StepEntry{}, nil
	}
	s.steps++
	e, err := s.r.RunStep(ctx, Step{Index: s.steps, Kind: kind, Rate: rate, Hold: hold})
	if err != nil {
		if ctx.Err() != nil {
			s.out.Stopped = StopInterrupted
			return e, err // a partial step is not judged
		}
		return e, fmt.Errorf("capacity step %d (%s at %.0f msgs/s): %w", s.steps, kind, rate, err)
	}
	e.Index, e.Kind, e.Rate, e.HoldS = s.steps, kind, rate, hold.Seconds()
	e.Pass, e.Reasons = Judge(e, s.cfg.Criteria)
	s.out.Steps = append(s.out.Steps, e)
	if s.cfg.OnStep != nil {
		s.cfg.OnStep(e)
	}
	return e, nil
}

func (s *searcher) note(format string, args ...any) {
	s.out.Notes = append(s.out.Notes, fmt.Sprintf(format, args...))
}

// highestPassAbove is the highest passing rate strictly above rate (0: none).
func (s *searcher) highestPassAbove(rate float64) float64 {
	best := 0.0
	for _, e := range s.out.Steps {
		if !e.Repeated && e.Pass && e.Rate > rate && e.Rate > best {
			best = e.Rate
		}
	}
	return best
}

// highestPassBelow is the highest passing rate strictly below rate (0: none).
func (s *searcher) highestPassBelow(rate float64) float64 {
	best := 0.0
	for _, e := range s.out.Steps {
		if !e.Repeated && e.Pass && e.Rate < rate && e.Rate > best {
			best = e.Rate
		}
	}
	return best
}

// lowestFailAbove is the lowest failing rate strictly above rate (0: none).
func (s *searcher) lowestFailAbove(rate float64) float64 {
	best := 0.0
	for _, e := range s.out.Steps {
		if !e.Repeated && !e.Pass && e.Rate > rate && (best == 0 || e.Rate < best) {
			best = e.Rate
		}
	}
	return best
}
