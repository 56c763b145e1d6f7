package seed_test

import (
	"context"
	"testing"
	"time"

	"github.com/patronfed/patronfed/auth"
	"github.com/patronfed/patronfed/bench/seed"
	"github.com/patronfed/patronfed/pgtest"
	"github.com/patronfed/patronfed/pii"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestRun seeds a small consortium and checks what the load runs rely on:
// the counts Run reports are the rows written, every loan's borrower may
// borrow there (a home patron or one who consented), and the loans lie in
// the order a live table holds them (by when each row was last written).
func TestRun(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	kr, err := pii.ParseKeyring(pii.GenerateKeyringSpec())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	res, err := seed.Run(ctx, pool, kr, seed.Options{Patrons: 3000, Libraries: 4, Now: now, HashParams: auth.TestParams})
	if err != nil {
		t.Fatal(err)
	}
	var loans, active, expired, strangers int64
	if err := pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE returned_at IS NULL),
		       count(*) FILTER (WHERE returned_at < $1::timestamptz - interval '12 months'),
		       count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM patrons p WHERE p.id = l.patron_id
		                          AND (p.home_library_id = l.lending_library_id OR EXISTS (SELECT 1 FROM consents c
		                               WHERE c.patron_id = p.id AND c.library_id = l.lending_library_id))))
		FROM loans l`, now).Scan(&loans, &active, &expired, &strangers); err != nil {
		t.Fatal(err)
	}
	if loans != res.Loans || active != res.ActiveLoans || expired != res.ExpiredLoans {
		t.Errorf("loans/active/expired in the table %d/%d/%d, reported %d/%d/%d",
			loans, active, expired, res.Loans, res.ActiveLoans, res.ExpiredLoans)
	}
	if loans < 10000 || active == 0 || expired == 0 {
		t.Errorf("too few loans to mean anything: %d (%d active, %d expired)", loans, active, expired)
	}
	if strangers != 0 {
		t.Errorf("%d loans to patrons the lending library may not lend to", strangers)
	}
	var outOfOrder int64
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM (
		SELECT greatest(returned_at, checked_out_at) AS w,
		       lag(greatest(returned_at, checked_out_at)) OVER (ORDER BY ctid) AS prev FROM loans) s
		WHERE w < prev`).Scan(&outOfOrder); err != nil {
		t.Fatal(err)
	}
	if outOfOrder != 0 {
		t.Errorf("%d loans lie before one written earlier than they were", outOfOrder)
	}
}
