package main

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/patronfed/patronfed/retention"
)

type anonymiseResult struct {
	Patrons       int
	Loans         int64 // history loans the sampled patrons had in all
	P50, P99, Max time.Duration
	MeanLoans     float64
}

// anonymise times retention.AnonymisePatron (the rights desk's erasure
// and retention's anonymise step) for sampled patrons with loan history
// and no active loan, each in a transaction that is rolled back, so the
// seeded database is left as it was.
func (h *harness) anonymise() error {
	ctx := h.ctx
	pool, err := h.pool(h.url, true)
	if err != nil {
		return err
	}
	defer pool.Close()
	rows, err := pool.Query(ctx, `SELECT p.id::text, (SELECT count(*) FROM loans l WHERE l.patron_id = p.id)
		FROM patrons p TABLESAMPLE SYSTEM (1) REPEATABLE (42)
		WHERE p.anonymised_at IS NULL
		  AND EXISTS (SELECT 1 FROM loans l WHERE l.patron_id = p.id AND l.returned_at IS NOT NULL)
		  AND NOT EXISTS (SELECT 1 FROM loans l WHERE l.patron_id = p.id AND l.returned_at IS NULL)
		LIMIT 200`)
	if err != nil {
		return err
	}
	type sample struct {
		ID    string
		Loans int64
	}
	patrons, err := pgx.CollectRows(rows, pgx.RowToStructByPos[sample])
	if err != nil {
		return err
	}
	if len(patrons) == 0 {
		return fmt.Errorf("no patron with loan history and no active loan to sample")
	}
	res := anonymiseResult{Patrons: len(patrons)}
	var took []time.Duration
	now := time.Now()
	for _, p := range patrons {
		res.Loans += p.Loans
		t := time.Now()
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if _, err := retention.AnonymisePatron(ctx, tx, p.ID, now); err != nil {
				return err
			}
			return errRollback
		})
		if !errors.Is(err, errRollback) {
			return fmt.Errorf("anonymising a sampled patron: %w", err)
		}
		took = append(took, time.Since(t))
	}
	slices.Sort(took)
	res.P50, res.P99, res.Max = took[len(took)/2], took[len(took)*99/100], took[len(took)-1]
	res.MeanLoans = float64(res.Loans) / float64(res.Patrons)
	h.results["anonymise"] = res
	fmt.Fprintf(h.md, "## Anonymising one patron (rolled back)\n\n`retention.AnonymisePatron` for %d sampled patrons with loan history and no active loan (%.1f loans each on average), one transaction each, rolled back.\n\n",
		res.Patrons, res.MeanLoans)
	fmt.Fprintf(h.md, "| patrons | p50 | p99 | max |\n|---|---|---|---|\n| %d | %s | %s | %s |\n\n", res.Patrons, ms(res.P50), ms(res.P99), ms(res.Max))
	return nil
}

var errRollback = errors.New("rolled back on purpose")
