package seed_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/patronfed/patronfed/audit"
	"github.com/patronfed/patronfed/auth"
	"github.com/patronfed/patronfed/bench/seed"
	"github.com/patronfed/patronfed/circulation"
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
	checkAuditLog(t, pool, res, now)
	checkReservations(t, pool, res, now)
	checkTitles(t, pool, res)
}

// checkReservations: the generated reservations are as many as reported,
// of every status, and the active ones are as circulation leaves them:
// nobody holds the copy they borrow, the holder may borrow at the pickup
// library, a copy is on a hold shelf exactly when one hold on it is
// ready (at that library, not yet expired), and a waiting hold's copy is
// on loan.
func checkReservations(t *testing.T, pool *pgxpool.Pool, res *seed.Result, now time.Time) {
	t.Helper()
	ctx := context.Background()
	var all, waiting, ready, fulfilled, cancelled, expired int64
	if err := pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE status = 'active' AND ready_at IS NULL),
		       count(*) FILTER (WHERE status = 'active' AND ready_at IS NOT NULL),
		       count(*) FILTER (WHERE status = 'fulfilled'), count(*) FILTER (WHERE status = 'cancelled'),
		       count(*) FILTER (WHERE status = 'expired')
		FROM reservations`).Scan(&all, &waiting, &ready, &fulfilled, &cancelled, &expired); err != nil {
		t.Fatal(err)
	}
	if all != res.Reservations || waiting != res.Waiting || ready != res.Ready {
		t.Errorf("reservations/waiting/ready in the table %d/%d/%d, reported %d/%d/%d",
			all, waiting, ready, res.Reservations, res.Waiting, res.Ready)
	}
	if waiting == 0 || ready == 0 || fulfilled == 0 || cancelled == 0 || expired == 0 {
		t.Errorf("a status is missing: %d waiting, %d ready, %d fulfilled, %d cancelled, %d expired",
			waiting, ready, fulfilled, cancelled, expired)
	}
	for _, c := range []struct{ what, query string }{
		{"active holds by the copy's borrower", `SELECT count(*) FROM reservations r JOIN loans l
			ON l.item_id = r.item_id AND l.patron_id = r.patron_id AND l.returned_at IS NULL WHERE r.status = 'active'`},
		{"active holds by a patron the pickup library may not lend to", `SELECT count(*) FROM reservations r
			JOIN patrons p ON p.id = r.patron_id WHERE r.status = 'active' AND p.home_library_id <> r.pickup_library_id
			AND NOT EXISTS (SELECT 1 FROM consents c WHERE c.patron_id = p.id AND c.library_id = r.pickup_library_id)`},
		{"ready holds not on their pickup library's shelf or already expired", `SELECT count(*) FROM reservations r
			JOIN items i ON i.id = r.item_id WHERE r.status = 'active' AND r.ready_at IS NOT NULL
			AND (i.hold_shelf_library_id IS DISTINCT FROM r.pickup_library_id OR r.expires_at <= $1)`},
		{"shelved copies without exactly one ready hold", `SELECT count(*) FROM items i WHERE i.hold_shelf_library_id IS NOT NULL
			AND (SELECT count(*) FROM reservations r WHERE r.item_id = i.id AND r.status = 'active') <> 1`},
		{"waiting holds on a copy that is not on loan", `SELECT count(*) FROM reservations r JOIN items i ON i.id = r.item_id
			WHERE r.status = 'active' AND r.ready_at IS NULL AND i.status <> 'on_loan'`},
	} {
		var n int64
		args := []any{}
		if strings.Contains(c.query, "$1") {
			args = append(args, now)
		}
		if err := pool.QueryRow(ctx, c.query, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", c.what, err)
		}
		if n != 0 {
			t.Errorf("%d %s", n, c.what)
		}
	}
}

// checkAuditLog: the generated audit log is as many entries as reported
// (the default: one per patron), one hash chain that verifies, in time
// order over the last AuditDays days, each entry a staff read whose
// decision the built-in policy made (allowed home and consented reads,
// some denials).
func checkAuditLog(t *testing.T, pool *pgxpool.Pool, res *seed.Result, now time.Time) {
	t.Helper()
	ctx := context.Background()
	if res.AuditEntries != 3000 {
		t.Errorf("audit entries %d, want one per patron (3000)", res.AuditEntries)
	}
	v, err := audit.Verify(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if !v.OK || v.Checked != res.AuditEntries {
		t.Errorf("audit chain: %+v, want OK over %d rows", v, res.AuditEntries)
	}
	var first, last time.Time
	var outOfOrder, allowed, denied, crossLibrary int64
	if err := pool.QueryRow(ctx, `SELECT min(at), max(at),
		       count(*) FILTER (WHERE at < prev),
		       count(*) FILTER (WHERE allowed), count(*) FILTER (WHERE NOT allowed),
		       count(*) FILTER (WHERE allowed AND input->'resource'->>'home_library_id' <> actor_library_id::text)
		FROM (SELECT *, lag(at) OVER (ORDER BY seq) AS prev FROM audit_log) a
		WHERE actor_kind = 'staff' AND action = 'patron.read'`).Scan(&first, &last, &outOfOrder, &allowed, &denied, &crossLibrary); err != nil {
		t.Fatal(err)
	}
	if first.Before(now.Add(-seed.AuditDays*24*time.Hour)) || !last.Before(now) {
		t.Errorf("audit entries from %s to %s, want within the %d days before %s", first, last, seed.AuditDays, now)
	}
	if outOfOrder != 0 {
		t.Errorf("%d audit entries earlier than the one before them", outOfOrder)
	}
	if allowed+denied != res.AuditEntries || denied == 0 || crossLibrary == 0 || denied > allowed/10 {
		t.Errorf("staff reads: %d allowed (%d of another library's patron), %d denied, of %d entries",
			allowed, crossLibrary, denied, res.AuditEntries)
	}
}

// checkTitles: every item is a copy of a catalogue record whose copies
// share its title, some records have many copies, and the title holds are
// as circulation leaves them: a title waits in its queue only while a
// copy is on loan, nobody waits for a title they borrow or already hold a
// copy of, a captured title hold is for a copy of its title, and the
// queue's positions are as ListPatronReservations reads them.
func checkTitles(t *testing.T, pool *pgxpool.Pool, res *seed.Result) {
	t.Helper()
	ctx := context.Background()
	var records, noRecord, mixedTitles, bestsellers, titleWaiting, captured, fulfilled int64
	if err := pool.QueryRow(ctx, `SELECT
		(SELECT count(DISTINCT record_id) FROM items), (SELECT count(*) FROM items WHERE record_id IS NULL),
		(SELECT count(*) FROM (SELECT FROM items GROUP BY record_id HAVING count(DISTINCT title) > 1) m),
		(SELECT count(*) FROM (SELECT FROM items GROUP BY record_id HAVING count(*) >= 10) b),
		count(*) FILTER (WHERE status = 'active' AND item_id IS NULL),
		count(*) FILTER (WHERE status = 'active' AND item_id IS NOT NULL AND record_id IS NOT NULL),
		count(*) FILTER (WHERE status = 'fulfilled' AND record_id IS NOT NULL)
		FROM reservations`).Scan(&records, &noRecord, &mixedTitles, &bestsellers, &titleWaiting, &captured, &fulfilled); err != nil {
		t.Fatal(err)
	}
	if records != res.Records || titleWaiting != res.TitleWaiting {
		t.Errorf("records/title holds waiting in the tables %d/%d, reported %d/%d", records, titleWaiting, res.Records, res.TitleWaiting)
	}
	if noRecord != 0 || mixedTitles != 0 {
		t.Errorf("%d items without a record, %d records whose copies differ in title", noRecord, mixedTitles)
	}
	if bestsellers == 0 || titleWaiting == 0 || captured == 0 || fulfilled == 0 {
		t.Errorf("missing: %d records with 10 copies or more, %d title holds waiting, %d captured on a shelf, %d fulfilled",
			bestsellers, titleWaiting, captured, fulfilled)
	}
	for _, c := range []struct{ what, query string }{
		{"title holds waiting for a title no copy of which is on loan", `SELECT count(*) FROM reservations r
			WHERE r.status = 'active' AND r.item_id IS NULL
			AND NOT EXISTS (SELECT 1 FROM items i WHERE i.record_id = r.record_id AND i.status = 'on_loan')`},
		{"active title holds by a borrower of a copy of the title", `SELECT count(*) FROM reservations r
			JOIN items i ON i.record_id = r.record_id JOIN loans l ON l.item_id = i.id AND l.patron_id = r.patron_id
			AND l.returned_at IS NULL WHERE r.status = 'active'`},
		{"title holds waiting while their patron holds a copy of the title", `SELECT count(*) FROM reservations r
			JOIN items i ON i.record_id = r.record_id JOIN reservations o ON o.item_id = i.id AND o.patron_id = r.patron_id
			AND o.status = 'active' WHERE r.status = 'active' AND r.item_id IS NULL`},
		{"title holds captured by a copy of another title", `SELECT count(*) FROM reservations r JOIN items i ON i.id = r.item_id
			WHERE r.record_id IS NOT NULL AND i.record_id <> r.record_id`},
	} {
		var n int64
		if err := pool.QueryRow(ctx, c.query).Scan(&n); err != nil {
			t.Fatalf("%s: %v", c.what, err)
		}
		if n != 0 {
			t.Errorf("%d %s", n, c.what)
		}
	}
	// The last patron in the longest queue is as far down it as it is long.
	var record, last, title string
	var length int
	if err := pool.QueryRow(ctx, `SELECT r.record_id, r.patron_id::text, count(*) OVER (PARTITION BY r.record_id),
		(SELECT i.title FROM items i WHERE i.record_id = r.record_id LIMIT 1)
		FROM reservations r WHERE r.status = 'active' AND r.item_id IS NULL
		ORDER BY count(*) OVER (PARTITION BY r.record_id) DESC, r.record_id, r.placed_at DESC, r.id DESC LIMIT 1`).Scan(&record, &last, &length, &title); err != nil {
		t.Fatal(err)
	}
	if length < 5 {
		t.Errorf("the longest title queue has %d patrons; a bestseller's should have more", length)
	}
	holds, err := circulation.ActiveReservationsOfPatron(ctx, pool, last, "")
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(holds, func(r circulation.Reservation) bool { return r.RecordID == record && r.Item.ID == "" })
	if i < 0 {
		t.Fatalf("patron %s's holds %+v: none waits for %s", last, holds, record)
	}
	if holds[i].QueuePosition != length || holds[i].Title != title {
		t.Errorf("the last in %s's queue of %d: position %d, title %q (want %q)", record, length, holds[i].QueuePosition, holds[i].Title, title)
	}
}
