package retention_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/patronfed/patronfed/clock"
	"github.com/patronfed/patronfed/pgtest"
	"github.com/patronfed/patronfed/retention"
	"github.com/patronfed/patronfed/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// epoch is where every test clock starts.
var epoch = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// world is a test database: su for fixtures and checks (superuser), the
// engine on a pool as the app role, as in production.
type world struct {
	t     *testing.T
	ctx   context.Context
	su    *pgxpool.Pool
	app   *pgxpool.Pool
	url   string
	clock *clock.Fake
	eng   *retention.Engine
}

func newWorld(t *testing.T) *world {
	t.Helper()
	return worldOn(t, pgtest.NewDB(t))
}

func worldOn(t *testing.T, url string) *world {
	t.Helper()
	ctx := context.Background()
	su, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(su.Close)
	app, err := store.Open(ctx, url, store.PoolOptions{AppRole: "patronfed_app", MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(app.Close)
	clk := clock.NewFake(epoch)
	return &world{t: t, ctx: ctx, su: su, app: app, url: url, clock: clk, eng: retention.New(app, clk, nil)}
}

func (w *world) exec(sql string, args ...any) {
	w.t.Helper()
	if _, err := w.su.Exec(w.ctx, sql, args...); err != nil {
		w.t.Fatalf("%s: %v", sql, err)
	}
}

func (w *world) scalar(dst any, sql string, args ...any) {
	w.t.Helper()
	if err := w.su.QueryRow(w.ctx, sql, args...).Scan(dst); err != nil {
		w.t.Fatalf("%s: %v", sql, err)
	}
}

func (w *world) count(sql string, args ...any) int64 {
	w.t.Helper()
	var n int64
	w.scalar(&n, sql, args...)
	return n
}

func (w *world) library(code string) string {
	w.t.Helper()
	var id string
	w.scalar(&id, `INSERT INTO libraries (code, name, country) VALUES ($1, $1, 'CZ') RETURNING id::text`, code)
	return id
}

var seq atomic.Int64

// patron registers a patron at lib, last active at lastActive, with a
// card, an identifier row, a guardian and optional data.
func (w *world) patron(lib string, lastActive time.Time) string {
	w.t.Helper()
	n := seq.Add(1)
	var id string
	w.scalar(&id, `INSERT INTO patrons (home_library_id, pin_hash, first_name, last_name, birth_date, permanent_address,
		contact_address, email, phone, optional_data_consent, optional_data_consent_at, category, mother_tongue,
		guardian_name, guardian_phone, special_categories, registered_at, last_activity_at, last_login_at, last_login_ip, created_at, updated_at)
		VALUES ($1, 'hash', 'Jana', 'Nováková', '1990-01-01', 'Brno 1', 'Brno 2', 'jana@example.org', '+420 123 456',
		true, $2, 'adult', 'cs', 'Guardian Name', '+420 999 999', '{accessible_media}', $2, $3, $2, '10.0.0.1', $2, $2)
		RETURNING id::text`, lib, lastActive.Add(-time.Hour), lastActive)
	w.exec(`INSERT INTO cards (card_number, patron_id, issued_at) VALUES ($1, $2, $3)`, fmt.Sprintf("C%06d", n), id, lastActive)
	w.exec(`INSERT INTO patron_identifiers (patron_id, kind, ciphertext, key_id, blind_index)
		VALUES ($1::uuid, 'ssn', '\x00', 'k1', sha256(convert_to($1::uuid::text, 'UTF8')))`, id)
	return id
}

func (w *world) item(lib string) string {
	w.t.Helper()
	var id string
	w.scalar(&id, `INSERT INTO items (barcode, title, owning_library_id, created_at, updated_at)
		VALUES ($1, 'A Title', $2, $3, $3) RETURNING id::text`, fmt.Sprintf("I%06d", seq.Add(1)), lib, epoch)
	return id
}

// loan lends a new item of lib to patron at out; returned at ret unless ret
// is zero (then the item stays on loan).
func (w *world) loan(lib, patron string, out, ret time.Time) string {
	w.t.Helper()
	item := w.item(lib)
	var r, rl any
	if !ret.IsZero() {
		r, rl = ret, lib
		w.exec(`UPDATE items SET last_borrower_id = $2 WHERE id = $1`, item, patron)
	}
	var id string
	w.scalar(&id, `INSERT INTO loans (item_id, patron_id, lending_library_id, checked_out_at, due_at, returned_at, return_library_id)
		VALUES ($1, $2, $3, $4::timestamptz, $4::timestamptz + interval '28 days', $5, $6) RETURNING id::text`, item, patron, lib, out, r, rl)
	return id
}

// fee charges patron at lib for loan (may be ""); paid settles it.
func (w *world) fee(lib, patron, loan string, at time.Time, paid bool) string {
	w.t.Helper()
	var settled, paidAmount any = nil, 0
	if paid {
		settled, paidAmount = at, 500
	}
	var id string
	w.scalar(&id, `INSERT INTO fees (patron_id, library_id, loan_id, kind, amount, currency, paid_amount, charged_at, settled_at)
		VALUES ($1, $2, nullif($3, '')::uuid, 'overdue', 500, 'CZK', $4, $5, $6) RETURNING id::text`, patron, lib, loan, paidAmount, at, settled)
	return id
}

func (w *world) run(o retention.Options) *retention.Report {
	w.t.Helper()
	r, err := w.eng.Run(w.ctx, o)
	if err != nil {
		w.t.Fatalf("retention run: %v", err)
	}
	return r
}

// months returns epoch plus n months.
func months(n int) time.Time { return epoch.AddDate(0, n, 0) }
