package main

import (
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/patronfed/patronfed/pii"
	"github.com/patronfed/patronfed/rights"
)

// extractResult is what the extract phase measured.
type extractResult struct {
	Patrons              int
	P50, P99, Max        time.Duration
	MeanHistory          float64
	Heaviest             string // the patron with the longest history among those sampled
	HeaviestHistory      int
	HeaviestAccessLog    int
	HeaviestP50          time.Duration
	HeaviestRuns         int
	MeanAccessLogEntries float64
	// The patron staff read most often (the load runs' GetPatron
	// patrons): the longest access log.
	MostRead          string
	MostReadAccessLog int
	MostReadP50       time.Duration
}

// extract times a patron's full data extract (rights.Build with the
// patron's own scope: every section, identifiers decrypted, the whole
// history and the log of staff reads), the document a rights request or
// the OPAC's "my data" delivers, over sampled patrons and for the one of
// them with the longest history, each in one read-only snapshot as the
// service builds it. TestExtractReadsByIndex checks that each of its
// statements reads by index; this shows what that costs at scale.
func (h *harness) extract() error {
	pool, err := h.pool(h.url, true)
	if err != nil {
		return err
	}
	defer pool.Close()
	kr, err := pii.ParseKeyring(h.keys.pii, h.keys.index)
	if err != nil {
		return err
	}
	rows, err := pool.Query(h.ctx, `SELECT id::text FROM patrons WHERE anonymised_at IS NULL ORDER BY md5(id::text) LIMIT 500`)
	if err != nil {
		return err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	build := func(id string) (*rights.Extract, time.Duration, error) {
		var x *rights.Extract
		t := time.Now()
		err := pgx.BeginTxFunc(h.ctx, pool, snapshot, func(tx pgx.Tx) error {
			var err error
			x, err = rights.Build(h.ctx, tx, kr, id, rights.Scope{Self: true}, time.Now())
			return err
		})
		return x, time.Since(t), err
	}
	res := extractResult{Patrons: len(ids)}
	var lat latencies
	var history, access int
	for _, id := range ids {
		x, d, err := build(id)
		if err != nil {
			return fmt.Errorf("extract of %s: %w", id, err)
		}
		lat = append(lat, d)
		history += len(x.History)
		access += len(x.AccessLog)
		if len(x.History) > res.HeaviestHistory {
			res.Heaviest, res.HeaviestHistory, res.HeaviestAccessLog = id, len(x.History), len(x.AccessLog)
		}
	}
	res.P50, res.P99, res.Max = lat.pct(50), lat.pct(99), lat.pct(100)
	res.MeanHistory = float64(history) / float64(len(ids))
	res.MeanAccessLogEntries = float64(access) / float64(len(ids))
	// One scan of the audit log (a bench query, not one the server runs).
	if err := pool.QueryRow(h.ctx, `SELECT patron_id::text FROM audit_log WHERE patron_id IS NOT NULL
		GROUP BY patron_id ORDER BY count(*) DESC LIMIT 1`).Scan(&res.MostRead); err != nil {
		return err
	}
	repeat := func(id string) (time.Duration, *rights.Extract, error) {
		var l latencies
		var x *rights.Extract
		for range 50 {
			var d time.Duration
			var err error
			if x, d, err = build(id); err != nil {
				return 0, nil, err
			}
			l = append(l, d)
		}
		return l.pct(50), x, nil
	}
	res.HeaviestRuns = 50
	if res.HeaviestP50, _, err = repeat(res.Heaviest); err != nil {
		return err
	}
	var x *rights.Extract
	if res.MostReadP50, x, err = repeat(res.MostRead); err != nil {
		return err
	}
	res.MostReadAccessLog = len(x.AccessLog)
	h.results["extract"] = res
	fmt.Fprintf(h.md, "## A patron's full data extract (rights.Build, the patron's own scope)\n\n")
	fmt.Fprintf(h.md, "%d patrons sampled over the id space, one read-only snapshot each, nothing else running: p50 %s, p99 %s, max %s; history entries %.1f and access-log entries %.1f per patron on average. The sampled patron with the longest history (%d entries, %d access-log entries): p50 %s over %d runs.\n\n",
		res.Patrons, ms(res.P50), ms(res.P99), ms(res.Max), res.MeanHistory, res.MeanAccessLogEntries,
		res.HeaviestHistory, res.HeaviestAccessLog, ms(res.HeaviestP50), res.HeaviestRuns)
	fmt.Fprintf(h.md, "The patron staff read most often (%d access-log entries, most from the load runs): p50 %s over %d runs.\n\n",
		res.MostReadAccessLog, ms(res.MostReadP50), res.HeaviestRuns)
	return nil
}
