package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics times every statement a pool runs, as the server sees it
// (PostgreSQL's work, the round trip, and any wait for a CPU on either
// side), and reports how long requests waited for a connection. Set it
// in PoolOptions, then register Collectors(pool).
type Metrics struct {
	statement prometheus.Histogram
}

// NewMetrics returns unregistered metrics.
func NewMetrics() *Metrics {
	return &Metrics{statement: prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "patronfed_db_statement_seconds",
		Help:    "Time of each database statement, from sending it to its last row read.",
		Buckets: []float64{.00025, .0005, .001, .002, .005, .01, .02, .05, .1, .25, 1, 5},
	})}
}

type statementStart struct{}

// TraceQueryStart implements pgx.QueryTracer.
func (m *Metrics) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return context.WithValue(ctx, statementStart{}, time.Now())
}

// TraceQueryEnd implements pgx.QueryTracer.
func (m *Metrics) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryEndData) {
	if t, ok := ctx.Value(statementStart{}).(time.Time); ok {
		m.statement.Observe(time.Since(t).Seconds())
	}
}

// Collectors are the statement histogram and the pool's counters.
func (m *Metrics) Collectors(pool *pgxpool.Pool) []prometheus.Collector {
	return []prometheus.Collector{
		m.statement,
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "patronfed_db_pool_acquires_total",
			Help: "Connections taken from the pool.",
		}, func() float64 { return float64(pool.Stat().AcquireCount()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "patronfed_db_pool_acquire_seconds_total",
			Help: "Time spent taking connections from the pool, waits included.",
		}, func() float64 { return pool.Stat().AcquireDuration().Seconds() }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "patronfed_db_pool_empty_acquires_total",
			Help: "Acquisitions that had to wait because every connection was in use.",
		}, func() float64 { return float64(pool.Stat().EmptyAcquireCount()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "patronfed_db_pool_connections_in_use",
			Help: "Connections in use now.",
		}, func() float64 { return float64(pool.Stat().AcquiredConns()) }),
	}
}
