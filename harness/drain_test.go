package harness

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/citybench/citybench/harness/ledger"
	"github.com/citybench/citybench/harness/taps"
)

// stubTap is a tap whose Stop runs stop.
type stubTap struct {
	stage   ledger.Stage
	follows *ledger.Stage
	stop    func(ctx context.Context)
}

func (s *stubTap) Stage() ledger.Stage                   { return s.stage }
func (s *stubTap) Start(context.Context, taps.Env) error { return nil }
func (s *stubTap) Stop(ctx context.Context, _ time.Duration) taps.Report {
	s.stop(ctx)
	return taps.Report{Stage: s.stage}
}

type followingStub struct{ *stubTap }

func (f followingStub) Follows() ledger.Stage { return *f.follows }

// TestDrainTapsConcurrentlyInDependencyOrder: a Kafka tap that never catches up
// holds only itself until the deadline — the store read-back finishes without
// waiting for it — and the API poller, which follows the store, stops only
// after the store's tap has.
func TestDrainTapsConcurrentlyInDependencyOrder(t *testing.T) {
	storeDone := make(chan struct{})
	var apiSawStoreDone, kafkaHitDeadline atomic.Bool
	kafka := &stubTap{stage: ledger.Kafka, stop: func(ctx context.Context) {
		select {
		case <-storeDone: // the store finished while Kafka was still waiting
		case <-ctx.Done():
			return
		}
		<-ctx.Done()
		kafkaHitDeadline.Store(true)
	}}
	store := &stubTap{stage: ledger.Store, stop: func(context.Context) { close(storeDone) }}
	storeStage := ledger.Store
	api := followingStub{&stubTap{stage: ledger.API, follows: &storeStage, stop: func(context.Context) {
		select {
		case <-storeDone:
			apiSawStoreDone.Store(true)
		default:
		}
	}}}
	reports := drainTaps(context.Background(), []taps.Tap{kafka, store, api}, time.Minute, 500*time.Millisecond)
	if !kafkaHitDeadline.Load() {
		t.Error("the store read-back waited for the Kafka tap instead of draining beside it")
	}
	if !apiSawStoreDone.Load() {
		t.Error("the API poller stopped before the store read-back it follows")
	}
	for i, want := range []ledger.Stage{ledger.Kafka, ledger.Store, ledger.API} {
		if reports[i].Stage != want {
			t.Errorf("report %d is %s, want %s (the taps' order)", i, reports[i].Stage, want)
		}
	}
}
