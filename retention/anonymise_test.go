package retention_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/patronfed/patronfed/retention"
	"github.com/patronfed/patronfed/stats"
)

// TestAnonymisePatron: every personal field and every link to the person
// goes; what statistics count stays.
func TestAnonymisePatron(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	a, b := w.library("AAA"), w.library("BBB")
	p := w.patron(a, epoch)
	var staff string
	w.scalar(&staff, `INSERT INTO accounts (kind, username, display_name, library_id, roles, password_hash)
		VALUES ('staff', 'aaa.reg', 'Reg', $1, '{registrar}', 'x') RETURNING id::text`, a)
	w.exec(`INSERT INTO consents (patron_id, library_id, granted_at, method) VALUES ($1, $2, $3, 'web')`, p, b, epoch)
	w.exec(`INSERT INTO consent_events (patron_id, at, scope, library_id, granted, method, actor_kind, actor_id) VALUES
		($1, $2, 'share', $3, true, 'web', 'patron', $1),
		($1, $2, 'optional_data', NULL, true, 'in_person', 'staff', $4)`, p, epoch, b, staff)
	loan := w.loan(a, p, epoch.AddDate(0, 0, -30), epoch.AddDate(0, 0, -2))
	fee := w.fee(a, p, loan, epoch, true)
	var notice string
	w.scalar(&notice, `INSERT INTO notices (patron_id, library_id, kind, created_at) VALUES ($1, $2, 'reminder', $3) RETURNING id::text`, p, a, epoch)
	w.exec(`INSERT INTO notice_claims (notice_id, kind, loan_id, due_at) VALUES ($1, 'item', $2, $3)`, notice, loan, epoch)
	var resv string
	w.scalar(&resv, `INSERT INTO reservations (item_id, patron_id, pickup_library_id, placed_at, expires_at)
		VALUES ($1, $2, $3, $4::timestamptz, $4::timestamptz + interval '7 days') RETURNING id::text`, w.item(a), p, a, epoch)
	w.exec(`INSERT INTO patron_suspensions (patron_id, library_id, reason, suspended_until, created_at) VALUES ($1, $2, 'x', $3, $3)`, p, a, epoch)
	w.exec(`INSERT INTO circulation_requests (scope_id, request_id, method, fingerprint, result_id, created_at)
		VALUES ($1, gen_random_uuid(), 'CheckOut', '\x00', $2, $3)`, p, loan, epoch)
	w.exec(`INSERT INTO self_registrations (library_id, status, requested_at, completed_at, patron_id) VALUES ($1, 'completed', $2, $2, $3)`, a, epoch, p)
	w.exec(`INSERT INTO event_signups (library_id, event_name, event_date, patron_id, created_at) VALUES ($1, 'Night', $2::date, $3, $2)`, a, epoch, p)

	statsBefore := patronsPerCategory(t, w)
	var sum retention.Summary
	err := pgx.BeginFunc(w.ctx, w.app, func(tx pgx.Tx) error {
		var err error
		sum, err = retention.AnonymisePatron(w.ctx, tx, p, epoch)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	want := retention.Summary{"identifiers": 1, "cards": 1, "consents": 1, "consent_history": 2, "fees": 1, "notice_claims": 1,
		"notices": 1, "idempotency_records": 1, "last_borrower_marks": 1, "loans": 1, "reservations": 1, "suspensions": 1,
		"self_registrations": 1, "event_signups": 1, "patron_record": 1}
	if !reflect.DeepEqual(sum, want) {
		t.Errorf("summary %v\nwant    %v", sum, want)
	}

	// The record: nothing that names or reaches the person.
	var rec struct {
		First, Last                                string
		Birth, Perm, Contact, Email, Phone, Tongue *string
		GName, GPhone, Pin, IP                     *string
		Consent                                    bool
		Special                                    []string
		Category, Home                             string
		Archived, Anonymised                       bool
	}
	err = w.su.QueryRow(w.ctx, `SELECT first_name, last_name, birth_date::text, permanent_address, contact_address, email, phone,
		mother_tongue, guardian_name, guardian_phone, pin_hash, last_login_ip::text, optional_data_consent, special_categories,
		category, home_library_id::text, archived_at IS NOT NULL, anonymised_at IS NOT NULL FROM patrons WHERE id = $1`, p).Scan(
		&rec.First, &rec.Last, &rec.Birth, &rec.Perm, &rec.Contact, &rec.Email, &rec.Phone, &rec.Tongue, &rec.GName, &rec.GPhone,
		&rec.Pin, &rec.IP, &rec.Consent, &rec.Special, &rec.Category, &rec.Home, &rec.Archived, &rec.Anonymised)
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]*string{"birth_date": rec.Birth, "permanent_address": rec.Perm, "contact_address": rec.Contact,
		"email": rec.Email, "phone": rec.Phone, "mother_tongue": rec.Tongue, "guardian_name": rec.GName, "guardian_phone": rec.GPhone,
		"pin_hash": rec.Pin, "last_login_ip": rec.IP} {
		if v != nil {
			t.Errorf("%s kept after anonymisation", name)
		}
	}
	if rec.First != retention.AnonymisedName || rec.Last != retention.AnonymisedName || rec.Consent || len(rec.Special) != 0 {
		t.Errorf("record after anonymisation: %+v", rec)
	}
	if rec.Category != "adult" || rec.Home != a || !rec.Archived || !rec.Anonymised {
		t.Errorf("statistics fields or state lost: %+v", rec)
	}
	for _, q := range []string{
		`SELECT count(*) FROM cards WHERE patron_id = $1`,
		`SELECT count(*) FROM patron_identifiers WHERE patron_id = $1`,
		`SELECT count(*) FROM consents WHERE patron_id = $1`,
		`SELECT count(*) FROM consent_events WHERE patron_id = $1 OR actor_id = $1`,
		`SELECT count(*) FROM loans WHERE patron_id = $1`,
		`SELECT count(*) FROM reservations WHERE patron_id = $1`,
		`SELECT count(*) FROM fees WHERE patron_id = $1 OR loan_id IS NOT NULL`,
		`SELECT count(*) FROM notices WHERE patron_id = $1`,
		`SELECT count(*) FROM notice_claims WHERE loan_id IS NOT NULL AND $1::uuid IS NOT NULL`,
		`SELECT count(*) FROM items WHERE last_borrower_id = $1`,
		`SELECT count(*) FROM patron_suspensions WHERE patron_id = $1`,
		`SELECT count(*) FROM circulation_requests WHERE scope_id = $1`,
		`SELECT count(*) FROM self_registrations WHERE patron_id = $1`,
		`SELECT count(*) FROM event_signups WHERE patron_id = $1`,
	} {
		if n := w.count(q, p); n != 0 {
			t.Errorf("%s: %d, want 0", q, n)
		}
	}
	// What stays: the consent history (2 events, no person), the loan, the
	// fee, the cancelled reservation.
	if n := w.count(`SELECT count(*) FROM consent_events WHERE patron_id IS NULL`); n != 2 {
		t.Errorf("consent history: %d events kept, want 2", n)
	}
	if n := w.count(`SELECT count(*) FROM consent_events WHERE actor_id = $1`, staff); n != 1 {
		t.Error("the staff actor of a consent event was cut too")
	}
	if n := w.count(`SELECT count(*) FROM loans WHERE id = $1 AND lending_library_id = $2`, loan, a); n != 1 {
		t.Error("the loan row is gone")
	}
	if n := w.count(`SELECT count(*) FROM fees WHERE id = $1 AND amount = 500`, fee); n != 1 {
		t.Error("the fee is gone")
	}
	var st string
	w.scalar(&st, `SELECT status FROM reservations WHERE id = $1`, resv)
	if st != "cancelled" {
		t.Errorf("active reservation is %s, want cancelled", st)
	}
	if got := patronsPerCategory(t, w); !reflect.DeepEqual(got, statsBefore) {
		t.Errorf("patrons per category changed: %v -> %v", statsBefore, got)
	}

	// Again: nothing to do.
	err = pgx.BeginFunc(w.ctx, w.app, func(tx pgx.Tx) error {
		sum, err = retention.AnonymisePatron(w.ctx, tx, p, epoch.Add(time.Hour))
		return err
	})
	if err != nil || len(sum) != 0 {
		t.Errorf("second anonymisation: %v %v, want nothing done", sum, err)
	}
}

// patronsPerCategory counts every patron row by home library and category.
func patronsPerCategory(t *testing.T, w *world) map[string]int64 {
	t.Helper()
	rows, err := w.su.Query(w.ctx, `SELECT home_library_id::text || '/' || category, count(*) FROM patrons GROUP BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]int64{}
	for rows.Next() {
		var k string
		var n int64
		if err := rows.Scan(&k, &n); err != nil {
			t.Fatal(err)
		}
		m[k] = n
	}
	return m
}

// TestStatisticsUnchanged: the statistics that leave the system (package
// stats: loans per library per month, patrons per library and category)
// are equal before and after a run that anonymises loan history and
// (already archived) patrons.
func TestStatisticsUnchanged(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	a := w.library("AAA")
	var idle, active []string
	for range 8 {
		idle = append(idle, w.patron(a, epoch))
		active = append(active, w.patron(a, months(18)))
	}
	w.exec(`UPDATE patrons SET category = 'student' WHERE id = ANY($1::uuid[])`, idle[:3])
	for i := range 36 {
		out := months(6).AddDate(0, 0, i%3*31)
		w.loan(a, idle[i%8], out, out.AddDate(0, 0, 14))
		w.loan(a, active[i%8], out, out.AddDate(0, 0, 14))
	}

	// Idle patrons are archived first (archiving does change the active
	// patron counts, by design).
	w.clock.Set(months(18).Add(24 * time.Hour))
	if r := w.run(retention.Options{}); r.Count("AAA", retention.StepArchive) != 8 {
		t.Fatalf("archived %d, want 8", r.Count("AAA", retention.StepArchive))
	}
	snapshot := func() ([]stats.LoanRow, []stats.PatronRow, map[string]int64) {
		window, ok := stats.MonthWindow(epoch, months(30), w.clock.Now())
		if !ok {
			t.Fatal("no ended month to count")
		}
		loans, err := stats.Loans(w.ctx, w.app, stats.Scope{}, window, 0)
		if err != nil {
			t.Fatal(err)
		}
		patrons, err := stats.Patrons(w.ctx, w.app, stats.Scope{}, 0)
		if err != nil {
			t.Fatal(err)
		}
		return loans, patrons, patronsPerCategory(t, w)
	}
	loans1, patrons1, all1 := snapshot()
	if len(loans1) == 0 || len(patrons1) == 0 || loans1[0].Loans.Suppressed {
		t.Fatalf("test premise: statistics should have unsuppressed cells: %+v %+v", loans1, patrons1)
	}

	w.clock.Set(months(25))
	r := w.run(retention.Options{})
	if r.Count("AAA", retention.StepLoans) != 72 || r.Count("AAA", retention.StepAnonymise) != 8 {
		t.Fatalf("run anonymised %d loans and %d patrons, want 72 and 8", r.Count("AAA", retention.StepLoans), r.Count("AAA", retention.StepAnonymise))
	}
	loans2, patrons2, all2 := snapshot()
	if !reflect.DeepEqual(loans1, loans2) {
		t.Errorf("loans per library per month changed:\n%+v\n%+v", loans1, loans2)
	}
	if !reflect.DeepEqual(patrons1, patrons2) {
		t.Errorf("patrons per library and category changed:\n%+v\n%+v", patrons1, patrons2)
	}
	if !reflect.DeepEqual(all1, all2) {
		t.Errorf("patron rows per category changed: %v -> %v", all1, all2)
	}
}

// TestAnonymiseDeletesRequestsNamingItsLoans: an idempotency record made
// by someone else (the desk's scope, not the patron's) that points at the
// patron's loan goes with the patron; others stay. This is the result_id
// arm of the statement on its own.
func TestAnonymiseDeletesRequestsNamingItsLoans(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	a := w.library("AAA")
	p, other := w.patron(a, epoch), w.patron(a, epoch)
	loan := w.loan(a, p, epoch.AddDate(0, 0, -30), epoch.AddDate(0, 0, -2))
	kept := w.loan(a, other, epoch.AddDate(0, 0, -30), epoch.AddDate(0, 0, -2))
	w.exec(`INSERT INTO circulation_requests (scope_id, request_id, method, fingerprint, result_id, created_at)
		VALUES ($1, gen_random_uuid(), 'CheckOut', '\x00', $2, $4), ($1, gen_random_uuid(), 'CheckOut', '\x00', $3, $4)`,
		a, loan, kept, epoch)
	var sum retention.Summary
	if err := pgx.BeginFunc(w.ctx, w.app, func(tx pgx.Tx) error {
		var err error
		sum, err = retention.AnonymisePatron(w.ctx, tx, p, epoch)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if sum["idempotency_records"] != 1 {
		t.Errorf("idempotency records deleted: %d, want 1 (%v)", sum["idempotency_records"], sum)
	}
	if n := w.count(`SELECT count(*) FROM circulation_requests WHERE result_id = $1`, loan); n != 0 {
		t.Errorf("the record naming the patron's loan stayed")
	}
	if n := w.count(`SELECT count(*) FROM circulation_requests WHERE result_id = $1`, kept); n != 1 {
		t.Errorf("another patron's record: %d, want 1", n)
	}
}
