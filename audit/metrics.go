package audit

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// auditBuckets resolve the group commit's usual 0.3–3 ms and its tail.
var auditBuckets = []float64{.00025, .0005, .001, .002, .005, .01, .02, .05, .1, .25, 1, 5}

// writerMetrics are the writer's Prometheus series. Every audited read
// waits for a group commit, so an operator who sees reads slow down needs
// to tell the audit write from the rest of the request.
type writerMetrics struct {
	wait    prometheus.Histogram // Record: queued until durable (or failed)
	commit  prometheus.Histogram // one group commit's statement(s) and commit
	entries prometheus.Histogram // entries per group commit
	failed  prometheus.Counter   // group commits that failed
}

func newWriterMetrics() *writerMetrics {
	return &writerMetrics{
		wait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "patronfed_audit_record_seconds",
			Help:    "Time a caller waits for its audit entries to be durable (queue and group commit).",
			Buckets: auditBuckets,
		}),
		commit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "patronfed_audit_commit_seconds",
			Help:    "Time of one group commit of audit entries, statements and commit.",
			Buckets: auditBuckets,
		}),
		entries: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "patronfed_audit_commit_entries",
			Help:    "Audit entries per group commit.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048},
		}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "patronfed_audit_commit_failures_total",
			Help: "Group commits of audit entries that failed; their callers returned no data.",
		}),
	}
}

// Register adds the writer's series to reg.
func (w *Writer) Register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{w.m.wait, w.m.commit, w.m.entries, w.m.failed} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

func since(t time.Time) float64 { return time.Since(t).Seconds() }
