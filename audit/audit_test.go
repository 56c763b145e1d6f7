package audit_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/patronfed/patronfed/audit"
	"github.com/patronfed/patronfed/clock"
	"github.com/patronfed/patronfed/pgtest"
	"github.com/patronfed/patronfed/store"
)

// appPool connects to the test database as the server does: SET ROLE
// patronfed_app.
func appPool(t *testing.T) (app, su *pgxpool.Pool) {
	t.Helper()
	url := pgtest.NewDB(t)
	app, err := store.Open(context.Background(), url, store.PoolOptions{MaxConns: 8, AppRole: "patronfed_app"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(app.Close)
	su, err = pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(su.Close)
	return app, su
}

var epoch = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func entry(i int) audit.Entry {
	return audit.Entry{
		RequestID: fmt.Sprintf("req-%04d", i), ActorKind: "staff",
		ActorID: "5A1C0F3E-0000-4000-8000-000000000001", ActorLibraryID: "5a1c0f3e-0000-4000-8000-00000000000b",
		ActorRoles: []string{"registrar"}, TokenID: "tok-1", Action: "patron.read",
		PatronID: fmt.Sprintf("5a1c0f3e-0000-4000-8000-%012d", i), Allowed: i%3 != 0,
		Reasons: []string{"home library"}, Fields: []string{"name", "cards"}, PolicyVersion: 1,
		Input: json.RawMessage(fmt.Sprintf(`{"subject": {"kind": "staff"}, "action":"patron.read", "n": %d, "a": [1, 2.50]}`, i)),
	}
}

func verify(t *testing.T, q audit.Querier) audit.VerifyResult {
	t.Helper()
	res, err := audit.Verify(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// Concurrent Record calls are group-committed into a gap-free chain that
// verifies; each call returns only after its rows are committed.
func TestGroupCommitChainVerifies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	app, su := appPool(t)
	w := audit.NewWriter(app, clock.NewFake(epoch), nil)
	defer w.Close()

	const callers, per = 40, 3
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			es := make([]audit.Entry, per)
			for i := range es {
				es[i] = entry(c*per + i)
			}
			if err := w.Record(ctx, es...); err != nil {
				errs <- err
				return
			}
			// Committed: visible to another connection right away.
			var n int
			if err := su.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE request_id = $1`, es[0].RequestID).Scan(&n); err != nil || n != 1 {
				errs <- fmt.Errorf("row of %s not committed on return: %d, %v", es[0].RequestID, n, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var n, maxSeq, commits int64
	if err := su.QueryRow(ctx, `SELECT count(*), max(seq), count(DISTINCT xmin::text) FROM audit_log`).Scan(&n, &maxSeq, &commits); err != nil {
		t.Fatal(err)
	}
	if n != callers*per || maxSeq != n {
		t.Errorf("%d rows, max seq %d; want %d gap-free", n, maxSeq, callers*per)
	}
	t.Logf("%d rows in %d transactions", n, commits)
	if res := verify(t, app); !res.OK || res.Checked != n {
		t.Errorf("verify = %+v", res)
	}
	// Stored as given: ids lower-cased, time from the writer's clock.
	var actor string
	var at time.Time
	if err := su.QueryRow(ctx, `SELECT actor_id::text, at FROM audit_log WHERE seq = 1`).Scan(&actor, &at); err != nil ||
		actor != "5a1c0f3e-0000-4000-8000-000000000001" || !at.Equal(epoch) {
		t.Errorf("row 1: %s %s %v", actor, at, err)
	}
}

// Two replicas (two writers) append to one chain at the same time, with
// inputs the writers render themselves (one statement per batch while no
// other replica wrote in between) and inputs only PostgreSQL normalises:
// every row is written once, the chain is gap-free and verifies.
func TestTwoWritersShareTheChain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	app, su := appPool(t)
	w1 := audit.NewWriter(app, clock.NewFake(epoch), nil)
	defer w1.Close()
	w2 := audit.NewWriter(app, clock.NewFake(epoch), nil)
	defer w2.Close()

	const callers, rounds = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, callers*rounds)
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := w1
			if c%2 == 1 {
				w = w2
			}
			for i := range rounds {
				e := entry(c*rounds + i)
				if i%5 != 0 { // most inputs as the server writes them: no numbers
					e.Input = json.RawMessage(fmt.Sprintf(`{"subject": {"kind": "staff", "permissions": ["patron.read"]}, "action": "patron.read", "n": "%d", "ž": "a\"b"}`, i))
				}
				if err := w.Record(ctx, e); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var n, maxSeq int64
	if err := su.QueryRow(ctx, `SELECT count(*), max(seq) FROM audit_log`).Scan(&n, &maxSeq); err != nil {
		t.Fatal(err)
	}
	if n != callers*rounds || maxSeq != n {
		t.Errorf("%d rows, max seq %d; want %d gap-free", n, maxSeq, callers*rounds)
	}
	if res := verify(t, app); !res.OK || res.Checked != n {
		t.Errorf("verify = %+v", res)
	}
	s1, s2 := w1.Stats(), w2.Stats()
	t.Logf("writer 1: %+v, writer 2: %+v", s1, s2)
	if s1.OneStatement+s2.OneStatement == 0 {
		t.Error("no batch was written in one statement")
	}
	if s1.Batches == s1.OneStatement && s2.Batches == s2.OneStatement {
		t.Error("no batch locked the head: the fallback is not exercised")
	}

	// A writer alone writes one statement per batch after its first.
	w3 := audit.NewWriter(app, clock.NewFake(epoch), nil)
	defer w3.Close()
	for i := range 5 {
		e := entry(1000 + i)
		e.Input = json.RawMessage(`{"action": "patron.read"}`)
		if err := w3.Record(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if s := w3.Stats(); s.Batches != 5 || s.OneStatement != 4 {
		t.Errorf("lone writer: %+v, want 5 batches, 4 in one statement", s)
	}
	if res := verify(t, app); !res.OK || res.Checked != n+5 {
		t.Errorf("verify = %+v", res)
	}
}

// Verify finds the first broken link: a changed row, a deleted row, rows
// missing at the end, a row appended outside the chain.
func TestVerifyFindsTampering(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		tamper string
		want   int64
	}{
		{"changed field", `UPDATE audit_log SET allowed = NOT allowed WHERE seq = 4`, 4},
		{"changed fields list", `UPDATE audit_log SET fields = '{name,cards,national_ids}' WHERE seq = 5`, 5},
		{"changed input", `UPDATE audit_log SET input = '{"n": 99}' WHERE seq = 3`, 3},
		{"rehashed row", `UPDATE audit_log SET patron_id = NULL, hash = sha256(hash) WHERE seq = 2`, 2},
		{"deleted row", `DELETE FROM audit_log WHERE seq = 6`, 6},
		{"deleted tail", `DELETE FROM audit_log WHERE seq >= 7`, 7},
		{"appended row", `INSERT INTO audit_log SELECT seq + 100, at, request_id, actor_kind, actor_id, actor_library_id, actor_roles,
			token_id, action, patron_id, allowed, reasons, fields, policy_version, input, hash, hash FROM audit_log WHERE seq = 8`, 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			app, su := appPool(t)
			w := audit.NewWriter(app, clock.NewFake(epoch), nil)
			for i := range 8 {
				if err := w.Record(ctx, entry(i)); err != nil {
					t.Fatal(err)
				}
			}
			w.Close()
			if res := verify(t, app); !res.OK || res.Checked != 8 {
				t.Fatalf("before: %+v", res)
			}
			if _, err := su.Exec(ctx, tc.tamper); err != nil {
				t.Fatal(err)
			}
			res := verify(t, app)
			if res.OK || res.FirstBrokenSeq != tc.want || res.Reason == "" {
				t.Errorf("after: %+v, want broken at %d", res, tc.want)
			}
		})
	}
}

// The server's role can append but never change or remove audit rows, nor
// move the purge anchors; it can purge only through audit_purge_before,
// after which the chain still verifies from the anchor.
func TestAppRoleAppendOnlyAndPurge(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	app, _ := appPool(t)
	clk := clock.NewFake(epoch)
	w := audit.NewWriter(app, clk, nil)
	defer w.Close()
	for i := range 10 {
		if err := w.Record(ctx, entry(i)); err != nil {
			t.Fatal(err)
		}
		clk.Advance(24 * time.Hour)
	}
	for _, sql := range []string{
		`UPDATE audit_log SET allowed = true`,
		`DELETE FROM audit_log WHERE seq = 1`,
		`TRUNCATE audit_log`,
		`DELETE FROM audit_chain_head`,
		`INSERT INTO audit_purges (cutoff, last_seq, last_hash, rows) VALUES (now(), 5, sha256(''), 5)`,
		`DELETE FROM audit_purges`,
	} {
		_, err := app.Exec(ctx, sql)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
			t.Errorf("%s as patronfed_app: %v, want insufficient_privilege", sql, err)
		}
	}
	var n int64
	if err := app.QueryRow(ctx, `SELECT audit_purge_before($1)`, epoch.Add(4*24*time.Hour)).Scan(&n); err != nil || n != 4 {
		t.Fatalf("purge: %d, %v", n, err)
	}
	if res := verify(t, app); !res.OK || res.Checked != 6 {
		t.Errorf("after purge: %+v", res)
	}
	// Writing continues from the head; a second purge anchors again.
	if err := w.Record(ctx, entry(99)); err != nil {
		t.Fatal(err)
	}
	if err := app.QueryRow(ctx, `SELECT audit_purge_before($1)`, epoch.Add(8*24*time.Hour)).Scan(&n); err != nil || n != 4 {
		t.Fatalf("second purge: %d, %v", n, err)
	}
	if res := verify(t, app); !res.OK || res.Checked != 3 {
		t.Errorf("after second purge: %+v", res)
	}
	// Purging everything leaves a verifiable (empty) chain.
	if err := app.QueryRow(ctx, `SELECT audit_purge_before($1)`, epoch.Add(1000*24*time.Hour)).Scan(&n); err != nil || n != 3 {
		t.Fatalf("full purge: %d, %v", n, err)
	}
	if res := verify(t, app); !res.OK || res.Checked != 0 {
		t.Errorf("after full purge: %+v", res)
	}
}

func TestRecordRejectsBadEntries(t *testing.T) {
	t.Parallel()
	app, _ := appPool(t)
	w := audit.NewWriter(app, clock.NewFake(epoch), nil)
	bad := entry(1)
	bad.PatronID = "not-a-uuid"
	if err := w.Record(context.Background(), bad); err == nil {
		t.Error("non-UUID patron id accepted")
	}
	bad = entry(1)
	bad.Input = json.RawMessage(`{`)
	if err := w.Record(context.Background(), bad); err == nil {
		t.Error("invalid JSON input accepted")
	}
	w.Close()
	if err := w.Record(context.Background(), entry(2)); !errors.Is(err, audit.ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
}
