package retention_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/patronfed/patronfed/pgtest"
	"github.com/patronfed/patronfed/retention"
)

// digestTables are the tables retention touches.
var digestTables = []string{"patrons", "cards", "patron_identifiers", "consents", "consent_events", "items", "loans",
	"reservations", "fees", "notices", "notice_claims", "patron_suspensions", "circulation_requests",
	"self_registrations", "event_signups", "audit_log", "audit_purges"}

// digest fingerprints the content of every table retention touches.
func digest(t *testing.T, w *world) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, tbl := range digestTables {
		var d *string
		w.scalar(&d, `SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM `+tbl+` t`)
		if d != nil {
			out[tbl] = *d
		}
	}
	return out
}

// generate loads n returned loans (set-based, deterministic ids so two
// databases get the same data) over 1000 items and 1000 patrons at one
// library, a paid fee on every tenth loan, and 200 idle patrons. Loans
// end between 2 and 3 years before now, so every one is due.
func generate(t *testing.T, w *world, n int) {
	t.Helper()
	w.exec(`INSERT INTO libraries (id, code, name, country) VALUES (md5('lib')::uuid, 'GEN', 'Generated', 'CZ')`)
	// The data is consistent by construction: skip the foreign key
	// triggers while loading it (superuser, this session only).
	conn, err := w.su.Acquire(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(w.ctx, `SET session_replication_role = replica`); err != nil {
		t.Fatal(err)
	}
	defer conn.Exec(w.ctx, `RESET session_replication_role`) //nolint:errcheck
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := conn.Exec(w.ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec(`INSERT INTO patrons (id, home_library_id, first_name, last_name, permanent_address, registered_at, last_activity_at, created_at, updated_at)
		SELECT md5('p' || i)::uuid, md5('lib')::uuid, 'First', 'Last', 'Street ' || i, $1::timestamptz - interval '4 years',
		       CASE WHEN i <= 200 THEN $1::timestamptz - interval '3 years' ELSE $1::timestamptz END, $1, $1
		FROM generate_series(1, 1000) i`, epoch)
	exec(`INSERT INTO items (id, barcode, title, owning_library_id, last_borrower_id, created_at, updated_at)
		SELECT md5('i' || i)::uuid, 'BC' || lpad(i::text, 6, '0'), 'Title ' || i, md5('lib')::uuid, md5('p' || (i + 1))::uuid, $1, $1
		FROM generate_series(0, 999) i`, epoch)
	exec(`INSERT INTO loans (id, item_id, patron_id, lending_library_id, checked_out_at, due_at, returned_at, return_library_id)
		SELECT md5('l' || i)::uuid, md5('i' || (i % 1000))::uuid, md5('p' || (i % 1000 + 1))::uuid, md5('lib')::uuid,
		       $1::timestamptz - interval '3 years' + (i % 300) * interval '1 day',
		       $1::timestamptz - interval '3 years' + (i % 300 + 28) * interval '1 day',
		       $1::timestamptz - interval '3 years' + (i % 300 + 14) * interval '1 day', md5('lib')::uuid
		FROM generate_series(1, $2::int) i`, epoch, n)
	exec(`INSERT INTO fees (id, patron_id, library_id, loan_id, kind, amount, currency, paid_amount, charged_at, settled_at)
		SELECT md5('f' || i)::uuid, l.patron_id, l.lending_library_id, l.id, 'overdue', 500, 'CZK', 500, l.returned_at, l.returned_at
		FROM loans l, generate_series(1, $1::int, 10) i WHERE l.id = md5('l' || i)::uuid`, n)
	exec(`ANALYZE`)
}

// loanCount is 10k loans, or PATRONFED_RETENTION_LOANS (e.g. 100000: the
// full-size run, kept out of the default suite for its time on a loaded
// 2-core machine).
func loanCount(t *testing.T) int {
	if v := os.Getenv("PATRONFED_RETENTION_LOANS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1000 {
			t.Fatalf("PATRONFED_RETENTION_LOANS=%q: want a number of loans >= 1000", v)
		}
		return n
	}
	return 10_000
}

// TestBatchResumable: a run over generated loans killed midway and run
// again ends exactly where an uninterrupted run ends.
func TestBatchResumable(t *testing.T) {
	t.Parallel()
	n := loanCount(t)
	clean, crashed := newWorld(t), newWorld(t)
	for _, w := range []*world{clean, crashed} {
		generate(t, w, n)
	}

	const batch = 500
	start := time.Now()
	r := clean.run(retention.Options{BatchSize: batch})
	t.Logf("uninterrupted run over %d loans: %s", n, time.Since(start))
	if got := r.Count("GEN", retention.StepLoans); got != int64(n) {
		t.Fatalf("anonymised %d loans, want %d", got, n)
	}
	if got := r.Count("GEN", retention.StepAnonymise); got != 200 {
		t.Fatalf("anonymised %d patrons, want 200", got)
	}

	// Kill the run a few milliseconds after its 5th batch: mid-batch.
	ctx, cancel := context.WithCancel(crashed.ctx)
	defer cancel()
	var batches atomic.Int32
	_, err := crashed.eng.Run(ctx, retention.Options{BatchSize: batch, Progress: func(retention.Progress) {
		if batches.Add(1) == 5 {
			time.AfterFunc(3*time.Millisecond, cancel)
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("killed run: %v, want context.Canceled", err)
	}
	done := crashed.count(`SELECT count(*) FROM loans WHERE patron_id IS NULL`)
	if done == 0 || done == int64(n) {
		t.Fatalf("test premise: the killed run should have done part of the work, did %d of %d", done, n)
	}
	// The killed transaction may still hold its row locks for a moment
	// (its rows would be skipped, left for the next run): wait until its
	// backend is gone, as after a real crash and restart.
	for i := 0; crashed.count(`SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
		AND pid <> pg_backend_pid() AND backend_type = 'client backend' AND state <> 'idle'`) > 0; i++ {
		if i == 500 {
			t.Fatal("the killed run's backend did not go away")
		}
		time.Sleep(10 * time.Millisecond)
	}
	crashed.run(retention.Options{BatchSize: batch})

	a, b := digest(t, clean), digest(t, crashed)
	// Audit purges and timestamps of anonymisation are the same: one
	// clock, no audit entries.
	if !reflect.DeepEqual(a, b) {
		for _, tbl := range digestTables {
			if a[tbl] != b[tbl] {
				t.Errorf("table %s differs between the uninterrupted and the resumed run", tbl)
				showDiff(t, clean, crashed, tbl)
			}
		}
	}
}

// TestDryRun: a dry run changes nothing and reports exactly what the real
// run then does.
func TestDryRun(t *testing.T) {
	t.Parallel()
	w := worldOn(t, pgtest.NewDB(t))
	generate(t, w, 3000)
	w.exec(`INSERT INTO patron_suspensions (patron_id, library_id, reason, created_at) VALUES (md5('p1')::uuid, md5('lib')::uuid, 'x', $1)`, epoch)
	w.exec(`INSERT INTO self_registrations (library_id, first_name, last_name, address, requested_at)
		VALUES (md5('lib')::uuid, 'A', 'B', 'C', $1::timestamptz - interval '40 days')`, epoch)
	w.exec(`INSERT INTO event_signups (library_id, event_name, event_date, name, created_at)
		VALUES (md5('lib')::uuid, 'E', ($1::timestamptz - interval '1 year')::date, 'Guest', $1)`, epoch)
	w.exec(`INSERT INTO audit_log (seq, at, actor_kind, action, allowed, policy_version, prev_hash, hash)
		VALUES (1, $1::timestamptz - interval '1 year', 'staff', 'patron.read', true, 1, decode(repeat('00', 32), 'hex'), decode(repeat('11', 32), 'hex'))`, epoch)
	w.exec(`UPDATE audit_chain_head SET seq = 1, hash = decode(repeat('11', 32), 'hex')`)

	before := digest(t, w)
	dry := w.run(retention.Options{DryRun: true, BatchSize: 250})
	if after := digest(t, w); !reflect.DeepEqual(before, after) {
		t.Fatal("the dry run changed the database")
	}
	real := w.run(retention.Options{BatchSize: 250})
	if !reflect.DeepEqual(dry.Libraries, real.Libraries) || !reflect.DeepEqual(dry.Held, real.Held) || dry.AuditDeleted != real.AuditDeleted {
		t.Errorf("dry run reported\n%+v %+v %d\nthe real run did\n%+v %+v %d", dry.Libraries, dry.Held, dry.AuditDeleted,
			real.Libraries, real.Held, real.AuditDeleted)
	}
	for _, s := range []retention.Step{retention.StepLoans, retention.StepAnonymise, retention.StepSelfRegistrations, retention.StepEventSignups} {
		if real.Count("GEN", s) == 0 {
			t.Errorf("test premise: step %s had nothing to do", s)
		}
	}
	if len(real.Held) != 2 || real.AuditDeleted != 1 {
		t.Errorf("held back %+v, audit deleted %d; want the suspended patron held back twice (archive, anonymise) and 1 entry", real.Held, real.AuditDeleted)
	}
}

// showDiff logs a few rows of table that only one of the worlds has
// (generated data, no real person).
func showDiff(t *testing.T, a, b *world, table string) {
	t.Helper()
	rowsOf := func(w *world) map[string]bool {
		rows, err := w.su.Query(w.ctx, `SELECT t::text FROM `+table+` t`)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]bool{}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			m[s] = true
		}
		return m
	}
	ra, rb := rowsOf(a), rowsOf(b)
	n := 0
	for r := range ra {
		if !rb[r] && n < 3 {
			t.Logf("only in the uninterrupted run: %s", r)
			n++
		}
	}
	n = 0
	for r := range rb {
		if !ra[r] && n < 3 {
			t.Logf("only in the resumed run:       %s", r)
			n++
		}
	}
}

// TestPauseBetweenBatches: with a pause, the run waits after every batch
// that another batch follows (never after a step's last one), does the
// same work as without, and stops at once when its context ends during a
// pause.
func TestPauseBetweenBatches(t *testing.T) {
	t.Parallel()
	plain, paused := newWorld(t), newWorld(t)
	for _, w := range []*world{plain, paused} {
		generate(t, w, 3000)
	}
	plain.run(retention.Options{BatchSize: 250})

	const pause = 40 * time.Millisecond
	var waits []time.Duration
	paused.eng.SetSleep(func(_ context.Context, d time.Duration) error {
		waits = append(waits, d)
		return nil
	})
	var batches int
	steps := map[retention.Step]bool{}
	paused.run(retention.Options{BatchSize: 250, Pause: pause, Progress: func(p retention.Progress) {
		batches++
		steps[p.Step] = true
	}})
	// 3000 loans in batches of 250 are 12 full batches and a short one.
	if want := batches - len(steps); len(waits) != want || want < 12 {
		t.Fatalf("%d pauses after %d batches of %d steps, want %d (at least the 12 between loan batches)", len(waits), batches, len(steps), want)
	}
	for _, d := range waits {
		if d != pause {
			t.Fatalf("paused %s, want %s", d, pause)
		}
	}
	if a, b := digest(t, plain), digest(t, paused); !reflect.DeepEqual(a, b) {
		t.Fatal("a run with pauses did other work than one without")
	}

	// Without a pause the sleep is never called.
	again := newWorld(t)
	generate(t, again, 600)
	again.eng.SetSleep(func(context.Context, time.Duration) error {
		t.Fatal("slept with Pause 0")
		return nil
	})
	again.run(retention.Options{BatchSize: 250})

	// The context ending during a pause ends the run with its error.
	stopped := newWorld(t)
	generate(t, stopped, 600)
	ctx, cancel := context.WithCancel(stopped.ctx)
	defer cancel()
	stopped.eng.SetSleep(func(ctx context.Context, d time.Duration) error {
		cancel()
		return ctx.Err()
	})
	if _, err := stopped.eng.Run(ctx, retention.Options{BatchSize: 250, Pause: time.Hour}); !errors.Is(err, context.Canceled) {
		t.Fatalf("run cancelled during a pause: %v, want context.Canceled", err)
	}
}

// TestWorkShareLengthensPauses: with a work share, the pause after a
// batch grows with the batch's time, so that the run works at most that
// share of its time; never shorter than Pause, and a share of 1 leaves
// Pause alone. Each reading of the fake clock is 10 ms after the last, so
// every batch takes 10 ms.
func TestWorkShareLengthensPauses(t *testing.T) {
	t.Parallel()
	cases := []struct {
		pause time.Duration
		share float64
		want  time.Duration
	}{
		{20 * time.Millisecond, 0.2, 40 * time.Millisecond},    // 10 ms working, 40 ms resting
		{20 * time.Millisecond, 0.5, 20 * time.Millisecond},    // 10 ms would do; Pause is longer
		{0, retention.DefaultWorkShare, 70 * time.Millisecond}, // the default
		{20 * time.Millisecond, 1, 20 * time.Millisecond},      // no limit
		{20 * time.Millisecond, 0, 20 * time.Millisecond},      // unset
	}
	for _, c := range cases {
		w := newWorld(t)
		generate(t, w, 1000)
		var ticks atomic.Int64
		w.eng.SetNow(func() time.Time { return time.Unix(0, 0).Add(time.Duration(ticks.Add(1)) * 10 * time.Millisecond) })
		var waits []time.Duration
		w.eng.SetSleep(func(_ context.Context, d time.Duration) error {
			waits = append(waits, d)
			return nil
		})
		w.run(retention.Options{BatchSize: 250, Pause: c.pause, WorkShare: c.share})
		if len(waits) < 3 {
			t.Fatalf("pause %s, share %v: %d pauses, want at least the 3 between loan batches", c.pause, c.share, len(waits))
		}
		for _, d := range waits {
			if d != c.want {
				t.Fatalf("pause %s, share %v: paused %s, want %s (all pauses: %v)", c.pause, c.share, d, c.want, waits)
			}
		}
	}
}

// TestLoanWalkReadsOnlyDueLoans: the loans step reaches the due loans
// through loans_retention_idx and stops at the latest cutoff, instead of
// testing every loan in id order (an hourly run on 5 M loans read them all:
// docs/performance.md, optimisation 23).
func TestLoanWalkReadsOnlyDueLoans(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	generate(t, w, 20000)
	// Most history is recent, as in a running library: only 1 % is due.
	w.exec(`UPDATE loans SET returned_at = $1::timestamptz - interval '1 day', due_at = $1::timestamptz + interval '20 days',
		checked_out_at = $1::timestamptz - interval '10 days' WHERE id NOT IN (SELECT id FROM loans ORDER BY id LIMIT 200)`, epoch)
	w.exec(`ANALYZE loans`)
	walksOnlyDue(t, w, retention.LoansRowsSQL, retention.LoansStart, "loans_retention_idx", 200)
}

// walksOnlyDue: the step's select (rows, from start) walks index and
// its index scan returns the due rows and no others.
func walksOnlyDue(t *testing.T, w *world, rows, start, index string, due int) {
	t.Helper()
	r, err := w.su.Query(w.ctx, "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) "+rows, start, epoch, nil, 1000)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := pgx.CollectRows(r, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(plan, "\n")
	if !strings.Contains(text, index) {
		t.Fatalf("the step does not walk %s:\n%s", index, text)
	}
	for _, line := range plan {
		if strings.Contains(line, index) && !strings.Contains(line, fmt.Sprintf("rows=%d ", due)) {
			t.Fatalf("the index scan read other than the %d due rows:\n%s", due, text)
		}
	}
}

// TestReservationWalkReadsOnlyDueReservations: the reservations step
// reaches the due reservations through reservations_retention_idx and
// stops at the latest cutoff, as the loans step does, instead of testing
// every finished reservation in id order (2.8 s per run with nothing to
// do on 0.65 M reservations: docs/performance.md, optimisation 27).
func TestReservationWalkReadsOnlyDueReservations(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	generate(t, w, 200)
	// 5 000 finished reservations of which 150 are past the history
	// retention, and 100 waiting ones.
	w.exec(`INSERT INTO reservations (item_id, patron_id, pickup_library_id, status, placed_at, expires_at, finished_at)
		SELECT md5('i' || (i % 1000))::uuid, md5('p' || (i % 1000 + 1))::uuid, md5('lib')::uuid,
		       (ARRAY['fulfilled', 'cancelled', 'expired'])[i % 3 + 1],
		       f - interval '5 days', f + interval '9 days', f
		FROM generate_series(1, 5000) i,
		     LATERAL (SELECT CASE WHEN i <= 150 THEN $1::timestamptz - interval '2 years'
		                          ELSE $1::timestamptz - interval '1 month' END + i * interval '1 minute' AS f) t`, epoch)
	w.exec(`INSERT INTO reservations (item_id, patron_id, pickup_library_id, placed_at, expires_at)
		SELECT md5('i' || i)::uuid, md5('p' || (i + 500))::uuid, md5('lib')::uuid, $1::timestamptz - interval '3 years', $1::timestamptz + interval '1 day'
		FROM generate_series(1, 100) i`, epoch)
	w.exec(`ANALYZE reservations`)
	walksOnlyDue(t, w, retention.ReservationsRowsSQL, retention.ReservationsStart, "reservations_retention_idx", 150)
}

// TestAnonymiseReadsByIndex: anonymising a patron finds the patron's rows
// through indexes, never by scanning a table. Before migration 00016 no
// index covered a patron's loans in every state, and three statements
// scanned all loans: 0.87 s per patron at the median on 5 M loans
// (docs/performance.md, optimisation 24). With sequential scans priced out, a plan that still
// has one has no index to use.
func TestAnonymiseReadsByIndex(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	generate(t, w, 200)
	patron := "00000000-0000-4000-8000-000000000001"
	stmts := retention.AnonymiseSQL()
	stmts["clear_last_borrowers"] = retention.ClearLastBorrowersSQL
	if len(stmts) < 15 {
		t.Fatalf("only %d statements to check", len(stmts))
	}
	tx, err := w.su.Begin(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(w.ctx) }()
	if _, err := tx.Exec(w.ctx, `SET LOCAL enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	for kind, sql := range stmts {
		args := []any{patron}
		switch {
		case kind == "clear_last_borrowers":
			args = []any{[]string{patron}, []string{patron}}
		case strings.Contains(sql, "$2"):
			args = append(args, epoch)
		}
		rows, err := tx.Query(w.ctx, "EXPLAIN (COSTS OFF) "+sql, args...)
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		if text := strings.Join(plan, "\n"); strings.Contains(text, "Seq Scan") {
			t.Errorf("%s scans a table:\n%s", kind, text)
		}
	}
}
