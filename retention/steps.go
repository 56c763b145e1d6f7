package retention

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/patronfed/patronfed/circulation"
)

// Step names a retention step.
type Step string

// The steps, in the order a run takes them.
const (
	StepLoans             Step = "loan_history"        // anonymise returned loans
	StepReservations      Step = "reservation_history" // anonymise finished reservations
	StepArchive           Step = "archive_patrons"     // archive idle accounts
	StepAnonymise         Step = "anonymise_patrons"   // anonymise long-idle accounts
	StepSelfRegistrations Step = "self_registrations"  // delete pending self-registrations
	StepEventSignups      Step = "event_signups"       // delete sign-up sheets of past events
)

// step is one step. A row step selects and locks a batch of due rows
// (rows) and runs apply on their ids; a patron step finds the patrons that
// are due (due, a condition on patrons p joined to their library's
// settings s) and runs act on those without debts. rows takes $1 keyset
// (the key of the last row of the previous batch; start, or the nil UUID,
// at first), $2 now, $3 the library or NULL, $4 the batch size, and
// returns (library, id, key) in key order. Each apply statement takes the
// ids as $1 (an array) and their range [min, max] as $2 and $3: the range lets the planner walk an index
// over just the batch rather than test every row of the table against the
// ids; tables keyed by other columns join the ids.
type step struct {
	name Step
	// start is the first keyset of a row step whose key is not its id.
	start string
	rows  string
	apply []string
	// after, if set, runs last with the rows selected and the ids' range.
	after func(ctx context.Context, tx pgx.Tx, sel []selected, ids []string, lo, hi string) error
	// due ($2 now, $3 the library or NULL) makes a patron step.
	due string
	act func(ctx context.Context, tx pgx.Tx, ids []string, now time.Time) (map[string]string, error)
}

// patronsOf joins patrons to their library's settings, limited to the
// run's library ($3) if any.
const patronsOf = `FROM patrons p JOIN library_settings s ON s.library_id = p.home_library_id
		WHERE ($3::uuid IS NULL OR p.home_library_id = $3::uuid) AND `

// candidatesSQL finds the patrons due for a patron step: every patron is
// tested (activity has no index: one would make every OPAC login a
// non-HOT update), so this is one scan of the table, unordered and
// unlocked, so that the planner reads it sequentially. Walking the
// primary key in batches instead, as row steps do, visits every patron
// through the index: 2.0 s against 0.39 s a step on 1 M patrons, warm
// (docs/performance.md, optimisation 25). $1 is the nil UUID, so that the
// statement takes the same first three parameters as a row step's.
func (st step) candidatesSQL() string {
	return `SELECT p.id::text ` + patronsOf + `p.id > $1::uuid AND ` + st.due
}

// lockSQL locks the candidates among $1 that are still due: a patron who
// logged in or borrowed since the scan is no longer selected.
func (st step) lockSQL() string {
	return `SELECT p.id::text, p.home_library_id::text ` + patronsOf + `p.id = ANY($1::uuid[]) AND ` + st.due + `
		ORDER BY p.id FOR UPDATE OF p SKIP LOCKED`
}

// before is the moment `n <unit>` (a library_settings column) before $2,
// in UTC calendar arithmetic whatever the session's time zone.
func before(column, unit string) string {
	return fmt.Sprintf(`((($2::timestamptz AT TIME ZONE 'UTC') - make_interval(%s => s.%s)) AT TIME ZONE 'UTC')`, unit, column)
}

// activity is when a patron was last seen: a visit or loan
// (last_activity_at), an OPAC login, or else registration.
const activity = `greatest(coalesce(p.last_activity_at, p.registered_at), p.last_login_at)`

var steps = []step{
	{name: StepLoans, start: "-infinity " + minUUID, rows: `
		SELECT l.lending_library_id::text, l.id::text,
		       to_char(l.returned_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') || ' ' || l.id::text,
		       l.item_id::text, l.patron_id::text
		FROM loans l JOIN library_settings s ON s.library_id = l.lending_library_id
		WHERE (l.returned_at, l.id) > (split_part($1, ' ', 1)::timestamp AT TIME ZONE 'UTC', split_part($1, ' ', 2)::uuid)
		  AND l.patron_id IS NOT NULL AND l.returned_at IS NOT NULL
		  AND l.returned_at < (SELECT max(` + before("history_retention_months", "months") + `) FROM library_settings s)
		  AND l.returned_at < ` + before("history_retention_months", "months") + `
		  AND ($3::uuid IS NULL OR l.lending_library_id = $3::uuid)
		ORDER BY l.returned_at, l.id LIMIT $4 FOR UPDATE OF l SKIP LOCKED`,
		apply: []string{
			// Fees stay (accounting) but no longer say what was borrowed.
			`UPDATE fees f SET loan_id = NULL FROM unnest($1::uuid[]) b(id) WHERE f.loan_id = b.id AND f.loan_id >= $2::uuid AND f.loan_id <= $3::uuid`,
			`UPDATE notice_claims c SET loan_id = NULL FROM unnest($1::uuid[]) b(id) WHERE c.loan_id = b.id AND c.loan_id >= $2::uuid AND c.loan_id <= $3::uuid`,
			`DELETE FROM circulation_requests r USING unnest($1::uuid[]) b(id) WHERE r.result_id = b.id AND r.result_id >= $2::uuid AND r.result_id <= $3::uuid`,
		},
		after: clearLastBorrowers},
	{name: StepReservations, start: "-infinity " + minUUID, rows: `
		SELECT r.pickup_library_id::text, r.id::text,
		       to_char(r.finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') || ' ' || r.id::text
		FROM reservations r JOIN library_settings s ON s.library_id = r.pickup_library_id
		WHERE (r.finished_at, r.id) > (split_part($1, ' ', 1)::timestamp AT TIME ZONE 'UTC', split_part($1, ' ', 2)::uuid)
		  AND r.patron_id IS NOT NULL AND r.status <> 'active'
		  AND r.finished_at < (SELECT max(` + before("history_retention_months", "months") + `) FROM library_settings s)
		  AND r.finished_at < ` + before("history_retention_months", "months") + `
		  AND ($3::uuid IS NULL OR r.pickup_library_id = $3::uuid)
		ORDER BY r.finished_at, r.id LIMIT $4 FOR UPDATE OF r SKIP LOCKED`,
		apply: []string{
			`DELETE FROM circulation_requests r USING unnest($1::uuid[]) b(id) WHERE r.result_id = b.id AND r.result_id >= $2::uuid AND r.result_id <= $3::uuid`,
			`UPDATE reservations SET patron_id = NULL WHERE id >= $2::uuid AND id <= $3::uuid AND id = ANY($1::uuid[])`,
		}},
	{name: StepArchive, due: `p.archived_at IS NULL AND p.anonymised_at IS NULL
		  AND ` + activity + ` < ` + before("archive_after_months", "months"),
		act: archive},
	{name: StepAnonymise, due: `p.anonymised_at IS NULL
		  AND ` + activity + ` < ` + before("anonymise_after_months", "months"),
		act: anonymise},
	{name: StepSelfRegistrations, rows: `
		SELECT r.library_id::text, r.id::text, r.id::text
		FROM self_registrations r JOIN library_settings s ON s.library_id = r.library_id
		WHERE r.id > $1::uuid AND r.status = 'pending'
		  AND r.requested_at < ` + before("self_registration_retention_days", "days") + `
		  AND ($3::uuid IS NULL OR r.library_id = $3::uuid)
		ORDER BY r.id LIMIT $4 FOR UPDATE OF r SKIP LOCKED`,
		apply: []string{`DELETE FROM self_registrations WHERE id >= $2::uuid AND id <= $3::uuid AND id = ANY($1::uuid[])`}},
	{name: StepEventSignups, rows: `
		SELECT e.library_id::text, e.id::text, e.id::text
		FROM event_signups e JOIN library_settings s ON s.library_id = e.library_id
		WHERE e.id > $1::uuid
		  AND e.event_date <= (` + before("event_signup_retention_months", "months") + ` AT TIME ZONE 'UTC')::date
		  AND ($3::uuid IS NULL OR e.library_id = $3::uuid)
		ORDER BY e.id LIMIT $4 FOR UPDATE OF e SKIP LOCKED`,
		apply: []string{`DELETE FROM event_signups WHERE id >= $2::uuid AND id <= $3::uuid AND id = ANY($1::uuid[])`}},
}

// minUUID starts every keyset walk by id.
const minUUID = "00000000-0000-0000-0000-000000000000"

// batchResult is what one committed batch did.
type batchResult struct {
	selected int              // rows selected (handled or held back)
	last     string           // keyset: the key of the last row selected
	done     map[string]int64 // library → rows handled
	held     []HeldBack       // patrons held back
	acted    []string         // patrons archived or anonymised
}

// runStep walks the step's table in batches until a batch comes back
// short; a patron step, the patrons found due at its start.
func (e *Engine) runStep(ctx context.Context, st step, r *Report, libID *string, now time.Time, o Options) error {
	if st.due != "" {
		return e.runPatronStep(ctx, st, r, libID, now, o)
	}
	size := o.BatchSize
	last := cmp.Or(st.start, minUUID)
	var total int64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var res batchResult
		t := e.now()
		err := e.batch(ctx, o.DryRun, func(tx pgx.Tx) error {
			var err error
			res, err = rowBatch(ctx, tx, st, last, now, libID, size)
			return err
		})
		took := e.now().Sub(t)
		if err != nil {
			return err
		}
		total += account(r, st, res, o, total)
		if res.selected < size {
			return nil
		}
		last = res.last
		if err := e.pause(ctx, o, took); err != nil {
			return err
		}
	}
}

// runPatronStep acts on the patrons due for st in batches of a tenth of
// the batch size, since each patron is many statements.
func (e *Engine) runPatronStep(ctx context.Context, st step, r *Report, libID *string, now time.Time, o Options) error {
	size := max(1, o.BatchSize/10)
	ids, err := e.dueCandidates(ctx, st, now, libID)
	if err != nil {
		return err
	}
	if len(ids) == 0 && o.Progress != nil {
		o.Progress(Progress{Step: st.name}) // as a row step's empty first batch does
	}
	var total int64
	for i := 0; i < len(ids); i += size {
		if err := ctx.Err(); err != nil {
			return err
		}
		chunk := ids[i:min(i+size, len(ids))]
		var res batchResult
		t := e.now()
		err := e.batch(ctx, o.DryRun, func(tx pgx.Tx) error {
			var err error
			res, err = e.patronBatch(ctx, tx, st, chunk, now, libID)
			return err
		})
		took := e.now().Sub(t)
		if err != nil {
			return err
		}
		if !o.DryRun && e.PatronChanged != nil {
			for _, id := range res.acted {
				e.PatronChanged(id)
			}
		}
		total += account(r, st, res, o, total)
		if i+size >= len(ids) {
			return nil
		}
		if err := e.pause(ctx, o, took); err != nil {
			return err
		}
	}
	return nil
}

// account adds a committed batch to the report and reports progress; it
// returns the rows the batch handled.
func account(r *Report, st step, res batchResult, o Options, before int64) int64 {
	var n int64
	for lib, k := range res.done {
		r.add(lib, st.name, k)
		n += k
	}
	r.Held = append(r.Held, res.held...)
	if o.Progress != nil {
		o.Progress(Progress{Step: st.name, Rows: before + n})
	}
	return n
}

func rowBatch(ctx context.Context, tx pgx.Tx, st step, last string, now time.Time, libID *string, size int) (batchResult, error) {
	res := batchResult{done: map[string]int64{}}
	rows, err := tx.Query(ctx, st.rows, last, now, libID, size)
	if err != nil {
		return res, err
	}
	sel, err := collectSelected(rows)
	if err != nil || len(sel) == 0 {
		return res, err
	}
	ids := make([]string, len(sel))
	lo, hi := sel[0].ID, sel[0].ID
	for i, r := range sel {
		ids[i] = r.ID
		res.done[r.Lib]++
		lo, hi = min(lo, r.ID), max(hi, r.ID) // uuid text sorts like uuid
	}
	res.last = sel[len(sel)-1].Key
	res.selected = len(sel)
	b := &pgx.Batch{}
	for _, sql := range st.apply {
		b.Queue(sql, ids, lo, hi)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return res, err
	}
	if st.after != nil {
		return res, st.after(ctx, tx, sel, ids, lo, hi)
	}
	return res, nil
}

// selected is a row a row step's query chose: its library, id, keyset
// key, and any further columns the step's after reads (the walk has the
// row in hand, so after need not look it up again).
type selected struct {
	Lib, ID, Key string
	Extra        []string
}

func collectSelected(rows pgx.Rows) ([]selected, error) {
	defer rows.Close()
	extra := len(rows.FieldDescriptions()) - 3
	var sel []selected
	for rows.Next() {
		s := selected{Extra: make([]string, extra)}
		dest := []any{&s.Lib, &s.ID, &s.Key}
		for i := range s.Extra {
			dest = append(dest, &s.Extra[i])
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		sel = append(sel, s)
	}
	return sel, rows.Err()
}

// clearLastBorrowers cuts the loans from their patrons and then clears
// "who last borrowed this item" where the patron no longer has any loan of
// the item: the mark goes with the loans that made it. The walk selected
// each loan with its item and patron (Extra), locked.
func clearLastBorrowers(ctx context.Context, tx pgx.Tx, sel []selected, ids []string, lo, hi string) error {
	type pair struct{ item, patron string }
	seen := make(map[pair]bool, len(sel))
	items, patrons := make([]string, 0, len(sel)), make([]string, 0, len(sel))
	for _, s := range sel {
		p := pair{s.Extra[0], s.Extra[1]}
		if !seen[p] {
			seen[p] = true
			items, patrons = append(items, p.item), append(patrons, p.patron)
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE loans SET patron_id = NULL WHERE id >= $2::uuid AND id <= $3::uuid AND id = ANY($1::uuid[])`,
		ids, lo, hi); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, clearLastBorrowersSQL, items, patrons)
	return err
}

const clearLastBorrowersSQL = `UPDATE items i SET last_borrower_id = NULL
	FROM unnest($1::uuid[], $2::uuid[]) AS b(item_id, patron_id)
	WHERE i.id = b.item_id AND i.last_borrower_id = b.patron_id
	  AND NOT EXISTS (SELECT 1 FROM loans o WHERE o.patron_id = b.patron_id AND o.item_id = i.id)`

// dueCandidates is every patron due for st, in id order.
func (e *Engine) dueCandidates(ctx context.Context, st step, now time.Time, libID *string) ([]string, error) {
	rows, err := e.db.Query(ctx, st.candidatesSQL(), minUUID, now, libID)
	if err != nil {
		return nil, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	slices.Sort(ids) // uuid text sorts like uuid
	return ids, nil
}

// patronBatch locks those of ids that are still due and acts on the ones
// without debts.
func (e *Engine) patronBatch(ctx context.Context, tx pgx.Tx, st step, ids []string, now time.Time, libID *string) (batchResult, error) {
	res := batchResult{done: map[string]int64{}}
	rows, err := tx.Query(ctx, st.lockSQL(), ids, now, libID)
	if err != nil {
		return res, err
	}
	type cand struct{ ID, Lib string }
	cands, err := pgx.CollectRows(rows, pgx.RowToStructByPos[cand])
	if err != nil {
		return res, err
	}
	res.selected = len(cands)
	var free []string
	libOf := map[string]string{}
	for _, c := range cands {
		libOf[c.ID] = c.Lib
		d, err := circulation.DebtsAt(ctx, tx, c.ID, now)
		if err != nil {
			return res, err
		}
		if d.Any() {
			res.held = append(res.held, HeldBack{Step: st.name, LibraryID: c.Lib, PatronID: c.ID, Reasons: d.Reasons()})
			continue
		}
		free = append(free, c.ID)
	}
	if len(free) == 0 {
		return res, nil
	}
	failed, err := st.act(ctx, tx, free, now)
	if err != nil {
		return res, err
	}
	for _, id := range free {
		if reason, ok := failed[id]; ok {
			res.held = append(res.held, HeldBack{Step: st.name, LibraryID: libOf[id], PatronID: id, Reasons: []string{reason}})
			continue
		}
		res.done[libOf[id]]++
		res.acted = append(res.acted, id)
	}
	return res, nil
}

// archive moves idle accounts to the archive: not usable for service until
// the home library restores them.
func archive(ctx context.Context, tx pgx.Tx, ids []string, now time.Time) (map[string]string, error) {
	_, err := tx.Exec(ctx, `UPDATE patrons SET archived_at = $2, version = version + 1, updated_at = $2
		WHERE id = ANY($1::uuid[]) AND archived_at IS NULL`, ids, now)
	return nil, err
}

// pendingRightsRequests holds back the patrons among ids with an access or
// erasure request still pending (§4.1, §4.2): the request is answered from
// the patron's data, or by anonymising it with the erasure, by the home
// library; retention anonymises the patron at its first run after that.
func pendingRightsRequests(ctx context.Context, tx pgx.Tx, ids []string) (map[string]string, error) {
	rows, err := tx.Query(ctx, `SELECT patron_id::text, kind FROM rights_requests
		WHERE patron_id = ANY($1::uuid[]) AND status = 'pending' ORDER BY patron_id, kind`, ids)
	if err != nil {
		return nil, err
	}
	held := map[string]string{}
	var id, kind string
	_, err = pgx.ForEachRow(rows, []any{&id, &kind}, func() error {
		if held[id] == "" {
			held[id] = "a rights request of the patron is pending (" + kind + "); anonymised once the home library has answered it"
		}
		return nil
	})
	return held, err
}

// anonymise anonymises each patron under its own savepoint, so that one
// patron the database refuses (say, a loan checked out a moment ago) is
// held back instead of failing the batch.
func anonymise(ctx context.Context, tx pgx.Tx, ids []string, now time.Time) (map[string]string, error) {
	failed, err := pendingRightsRequests(ctx, tx, ids)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		if _, held := failed[id]; held {
			continue
		}
		sp, err := tx.Begin(ctx)
		if err != nil {
			return nil, err
		}
		if _, err := AnonymisePatron(ctx, sp, id, now); err != nil {
			_ = sp.Rollback(ctx)
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) || pgErr.Code == "40001" || pgErr.Code == "40P01" {
				return nil, err // not this patron's fault: fail (and retry) the batch
			}
			failed[id] = "anonymisation refused by the database (SQLSTATE " + pgErr.Code + "); retried next run"
			continue
		}
		if err := sp.Commit(ctx); err != nil {
			return nil, err
		}
	}
	return failed, nil
}
