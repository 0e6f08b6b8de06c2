//go:build containers

package harness_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/citybench/citybench/harness"
	"github.com/citybench/citybench/scenarios"
	"github.com/citybench/citybench/testcontainers"
)

// TestMalformedOnContainers is issue 14's acceptance for bad input: the catalog's
// malformed.yaml (5 % malformed, every kind) on the real pipeline — Mosquitto,
// the bridge and sink containers, Kafka, Cassandra. The dead-letter tap must find
// every malformed message in the dead-letter topic with a reason, the store read-
// back none of them, and the valid readings lose nothing.
func TestMalformedOnContainers(t *testing.T) {
	sc, err := scenarios.Load("../scenarios/malformed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	tg := testcontainers.NewTarget(sc.Target, testcontainers.WithLogger(log), testcontainers.WithPayloads(sc.Payloads()))
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	res, err := harness.Run(ctx, sc, harness.Options{Target: tg, Logger: log})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	mf := res.Malformed
	if mf == nil || !mf.Verified {
		t.Fatalf("malformed section %+v: want one verified by the dead-letter tap", mf)
	}
	for _, k := range mf.Kinds {
		t.Logf("%s: injected %d dead-lettered %d stored %d reasons %v", k.Kind, k.Injected, k.DeadLettered, k.Stored, k.Reasons)
	}
	if mf.Total.Injected == 0 || mf.Total.DeadLettered != mf.Total.Injected || mf.Total.Stored != 0 {
		t.Errorf("malformed: injected %d dead-lettered %d stored %d; want dead-lettered == injected > 0, stored 0",
			mf.Total.Injected, mf.Total.DeadLettered, mf.Total.Stored)
	}
	if len(mf.Kinds) != len(scenarios.MalformedKinds) {
		t.Errorf("kinds sent %d, want %d", len(mf.Kinds), len(scenarios.MalformedKinds))
	}
	if st := res.Stage("store"); st == nil || st.Delivery.Lost != 0 || st.Delivery.Unverified != 0 {
		t.Errorf("store stage %+v: want every valid reading stored", st)
	}
	for _, v := range res.SLOs {
		if !v.Pass {
			t.Errorf("SLO %s failed: observed %v (%s)", v.Expr, v.Observed, v.Note)
		}
	}
	for _, w := range res.Warnings {
		t.Logf("warning: %s", w)
	}
}

// TestReplayOnContainers replays the committed EPA sample through the real
// pipeline and reads Cassandra back: the stored values equal the CSV's.
func TestReplayOnContainers(t *testing.T) {
	sc, err := scenarios.Load("../scenarios/epa-replay.yaml")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	checkReplayStored(t, sc, testcontainers.NewTarget(sc.Target, testcontainers.WithLogger(log), testcontainers.WithPayloads(sc.Payloads())))
}
