package audit_test

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/patronfed/patronfed/audit"
	"github.com/patronfed/patronfed/clock"
)

// The writer's series count what callers waited for and what each group
// commit did, failures included, so an operator can tell the audit write
// from the rest of a slow read.
func TestWriterMetrics(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	app, _ := appPool(t)
	w := audit.NewWriter(app, clock.NewFake(epoch), nil)
	defer w.Close()
	reg := prometheus.NewRegistry()
	if err := w.Register(reg); err != nil {
		t.Fatal(err)
	}
	if err := w.Record(ctx, entry(1), entry(2)); err != nil {
		t.Fatal(err)
	}
	if err := w.Record(ctx, entry(3)); err != nil {
		t.Fatal(err)
	}
	got := gather(t, reg)
	if n := got["patronfed_audit_record_seconds"].GetHistogram().GetSampleCount(); n != 2 {
		t.Errorf("record waits observed = %d, want 2 (one per Record call)", n)
	}
	if s := got["patronfed_audit_commit_entries"].GetHistogram().GetSampleSum(); s != 3 {
		t.Errorf("entries committed = %v, want 3", s)
	}
	commits := got["patronfed_audit_commit_seconds"].GetHistogram().GetSampleCount()
	if commits < 1 || commits > 2 {
		t.Errorf("group commits observed = %d, want 1 or 2", commits)
	}
	if f := got["patronfed_audit_commit_failures_total"].GetCounter().GetValue(); f != 0 {
		t.Errorf("failures = %v, want 0", f)
	}

	// A commit that cannot happen is counted as failed, and its caller
	// waited for it like any other.
	app.Close()
	if err := w.Record(ctx, entry(4)); err == nil {
		t.Fatal("Record on a closed pool succeeded")
	}
	got = gather(t, reg)
	if f := got["patronfed_audit_commit_failures_total"].GetCounter().GetValue(); f != 1 {
		t.Errorf("failures = %v, want 1", f)
	}
	if n := got["patronfed_audit_record_seconds"].GetHistogram().GetSampleCount(); n != 3 {
		t.Errorf("record waits observed = %d, want 3", n)
	}
	if err := w.Register(prometheus.NewRegistry()); err != nil {
		t.Errorf("registering on a second registry: %v", err)
	}
}

func gather(t *testing.T, reg *prometheus.Registry) map[string]*dto.Metric {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.Metric{}
	for _, mf := range mfs {
		if len(mf.GetMetric()) == 1 {
			out[mf.GetName()] = mf.GetMetric()[0]
		}
	}
	return out
}
