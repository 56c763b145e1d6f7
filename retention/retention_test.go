package retention_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patronfed/patronfed/audit"
	"github.com/patronfed/patronfed/retention"
)

// TestPeriods moves the clock through every retention period of privacy
// rules §3, for a library with the default periods (A) and one with short
// ones (B), and checks each rule just before and just after its period,
// and every reason a patron is held back.
func TestPeriods(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	a, b := w.library("AAA"), w.library("BBB")
	w.exec(`UPDATE library_settings SET history_retention_months = 3, archive_after_months = 6, anonymise_after_months = 9,
		self_registration_retention_days = 7, audit_retention_months = 4, event_signup_retention_months = 1 WHERE library_id = $1`, b)

	// Library A: one patron without debts, one per kind of debt.
	pA := w.patron(a, epoch)
	loanA := w.loan(a, pA, epoch.AddDate(0, 0, -20), epoch)
	feeA := w.fee(a, pA, loanA, epoch, true)
	w.exec(`INSERT INTO reservations (item_id, patron_id, pickup_library_id, status, placed_at, expires_at, finished_at)
		VALUES ($1, $2, $3, 'fulfilled', $4::timestamptz, $4::timestamptz + interval '7 days', $4::timestamptz)`, w.item(a), pA, a, epoch)
	pItem := w.patron(a, epoch)
	w.loan(a, pItem, epoch, time.Time{})
	pFee := w.patron(a, epoch)
	unpaid := w.fee(a, pFee, "", epoch, false)
	pSusp := w.patron(a, epoch)
	w.exec(`INSERT INTO patron_suspensions (patron_id, library_id, reason, created_at) VALUES ($1, $2, 'damaged items', $3)`, pSusp, a, epoch)
	// Library B: one patron with history.
	pB := w.patron(b, epoch)
	loanB := w.loan(b, pB, epoch.AddDate(0, 0, -20), epoch)

	// Self-registrations, pending and completed, and event sign-ups.
	w.exec(`INSERT INTO self_registrations (library_id, first_name, last_name, address, requested_at) VALUES
		($1, 'Eva', 'Nová', 'Praha 1', $3), ($2, 'Petr', 'Malý', 'Brno 3', $3)`, a, b, epoch)
	w.exec(`INSERT INTO self_registrations (library_id, status, requested_at, completed_at, patron_id)
		VALUES ($1, 'completed', $2, $2, $3)`, a, epoch, pA)
	w.exec(`INSERT INTO event_signups (library_id, event_name, event_date, name, contact, created_at) VALUES
		($1, 'Reading night', $3::date, 'Guest One', 'guest@example.org', $3), ($2, 'Story hour', $3::date, 'Guest Two', '+420 111 222', $3)`,
		a, b, epoch)
	w.exec(`INSERT INTO event_signups (library_id, event_name, event_date, patron_id, created_at) VALUES ($1, 'Reading night', $2::date, $3, $2)`,
		a, epoch, pA)

	// Audit entries at the epoch and a month later.
	aw := audit.NewWriter(w.app, w.clock, nil)
	for _, at := range []time.Time{epoch, epoch.Add(time.Minute), months(1)} {
		if err := aw.Record(w.ctx, audit.Entry{At: at, ActorKind: "staff", Action: "patron.read", PatronID: pA, Allowed: true, PolicyVersion: 1}); err != nil {
			t.Fatal(err)
		}
	}
	aw.Close()

	at := func(tm time.Time) *retention.Report {
		t.Helper()
		w.clock.Set(tm)
		return w.run(retention.Options{})
	}
	linked := func(table, id string) bool {
		t.Helper()
		return w.count(`SELECT count(*) FROM `+table+` WHERE id = $1 AND patron_id IS NOT NULL`, id) == 1
	}
	pendingRegs := func(lib string) int64 {
		return w.count(`SELECT count(*) FROM self_registrations WHERE library_id = $1 AND status = 'pending'`, lib)
	}
	signups := func(lib string) int64 {
		return w.count(`SELECT count(*) FROM event_signups WHERE library_id = $1`, lib)
	}
	state := func(p string) string {
		var s string
		w.scalar(&s, `SELECT CASE WHEN anonymised_at IS NOT NULL THEN 'anonymised' WHEN archived_at IS NOT NULL THEN 'archived' ELSE 'active' END
			FROM patrons WHERE id = $1`, p)
		return s
	}

	// Self-registrations: B after 7 days, A after 30; completed ones stay.
	at(epoch.AddDate(0, 0, 7).Add(-time.Hour))
	if pendingRegs(b) != 1 {
		t.Error("B's self-registration deleted before 7 days")
	}
	r := at(epoch.AddDate(0, 0, 7).Add(time.Hour))
	if pendingRegs(b) != 0 || r.Count("BBB", retention.StepSelfRegistrations) != 1 {
		t.Errorf("B's self-registration not deleted after 7 days (report %d)", r.Count("BBB", retention.StepSelfRegistrations))
	}
	at(epoch.AddDate(0, 0, 30).Add(-time.Hour))
	if pendingRegs(a) != 1 {
		t.Error("A's self-registration deleted before 30 days")
	}
	r = at(epoch.AddDate(0, 0, 30).Add(time.Hour))
	if pendingRegs(a) != 0 || r.Count("AAA", retention.StepSelfRegistrations) != 1 {
		t.Error("A's self-registration not deleted after 30 days")
	}
	if w.count(`SELECT count(*) FROM self_registrations WHERE status = 'completed'`) != 1 {
		t.Error("a completed self-registration was deleted")
	}

	// Event sign-ups: B one month after the event, A three.
	at(months(1).Add(-24 * time.Hour))
	if signups(b) != 1 {
		t.Error("B's sign-up deleted before a month")
	}
	at(months(1).Add(time.Hour))
	if signups(b) != 0 {
		t.Error("B's sign-up not deleted after a month")
	}

	// Audit log: the longest period of any library (B's 4 months) wins.
	at(months(2).Add(time.Hour))
	if n := w.count(`SELECT count(*) FROM audit_log`); n != 3 {
		t.Errorf("audit entries purged after 2 months although B keeps 4: %d left", n)
	}

	// History: B after 3 months, A after 12; fees stay, detached.
	at(months(3).Add(-24 * time.Hour))
	if signups(a) != 2 {
		t.Error("A's sign-ups deleted before 3 months")
	}
	at(months(3).Add(-time.Hour))
	if !linked("loans", loanB) {
		t.Error("B's loan anonymised before 3 months")
	}
	r = at(months(3).Add(time.Hour))
	if linked("loans", loanB) || r.Count("BBB", retention.StepLoans) != 1 {
		t.Error("B's loan not anonymised after 3 months")
	}
	if !linked("loans", loanA) {
		t.Error("A's loan anonymised after 3 months")
	}
	if signups(a) != 0 {
		t.Error("A's sign-ups not deleted 3 months after the event")
	}

	r = at(months(4).Add(time.Hour))
	if n := w.count(`SELECT count(*) FROM audit_log`); n != 1 || r.AuditDeleted != 2 {
		t.Errorf("audit entries older than 4 months not purged: %d left, report %d", n, r.AuditDeleted)
	}
	if res, err := audit.Verify(w.ctx, w.app); err != nil || !res.OK {
		t.Errorf("audit chain does not verify after the purge: %+v %v", res, err)
	}

	// B's patron: archived after 6 months, anonymised after 9.
	at(months(6).Add(-time.Hour))
	if state(pB) != "active" {
		t.Error("B's patron archived before 6 months")
	}
	at(months(6).Add(time.Hour))
	if state(pB) != "archived" {
		t.Errorf("B's patron %s after 6 months, want archived", state(pB))
	}
	at(months(9).Add(time.Hour))
	if state(pB) != "anonymised" {
		t.Errorf("B's patron %s after 9 months, want anonymised", state(pB))
	}

	at(months(12).Add(-time.Hour))
	if !linked("loans", loanA) {
		t.Error("A's loan anonymised before a year")
	}
	r = at(months(12).Add(time.Hour))
	if linked("loans", loanA) || r.Count("AAA", retention.StepLoans) != 1 || r.Count("AAA", retention.StepReservations) != 1 {
		t.Errorf("A's history not anonymised after a year: %+v", r.Libraries)
	}
	var feeLoan *string
	var feePatron *string
	w.scalar(&feeLoan, `SELECT loan_id::text FROM fees WHERE id = $1`, feeA)
	w.scalar(&feePatron, `SELECT patron_id::text FROM fees WHERE id = $1`, feeA)
	if feeLoan != nil || feePatron == nil || *feePatron != pA {
		t.Errorf("fee of an anonymised loan: loan %v patron %v, want detached from the loan, still the patron's", feeLoan, feePatron)
	}
	if w.count(`SELECT count(*) FROM items WHERE last_borrower_id = $1`, pA) != 0 {
		t.Error("the anonymised loan still marks its patron as the item's last borrower")
	}
	if w.count(`SELECT count(*) FROM loans WHERE id = $1 AND lending_library_id = $2 AND returned_at IS NOT NULL`, loanA, a) != 1 {
		t.Error("the anonymised loan lost its library or dates")
	}

	// A's patrons: archived after 18 months unless a debt is open.
	at(months(18).Add(-time.Hour))
	if state(pA) != "active" {
		t.Error("A's patron archived before 18 months")
	}
	r = at(months(18).Add(time.Hour))
	if state(pA) != "archived" || r.Count("AAA", retention.StepArchive) != 1 {
		t.Errorf("A's patron %s after 18 months, want archived", state(pA))
	}
	wantHeld := map[string]string{pItem: "1 unreturned item", pFee: "1 unpaid fee totalling 5.00 CZK", pSusp: "suspended"}
	checkHeld := func(r *retention.Report, step retention.Step) {
		t.Helper()
		got := map[string]string{}
		for _, h := range r.Held {
			if h.Step == step {
				got[h.PatronID] = strings.Join(h.Reasons, "; ")
			}
		}
		for p, want := range wantHeld {
			if !strings.Contains(got[p], want) {
				t.Errorf("%s: patron held back with %q, want a reason containing %q", step, got[p], want)
			}
			if state(p) != "active" {
				t.Errorf("%s: a patron with a debt (%s) was %s", step, want, state(p))
			}
		}
		if len(got) != len(wantHeld) {
			t.Errorf("%s: held back %v, want exactly the three debtors", step, got)
		}
	}
	checkHeld(r, retention.StepArchive)

	r = at(months(24).Add(time.Hour))
	if state(pA) != "anonymised" || r.Count("AAA", retention.StepAnonymise) != 1 {
		t.Errorf("A's patron %s after 24 months, want anonymised", state(pA))
	}
	checkHeld(r, retention.StepAnonymise)
	var sb strings.Builder
	if err := r.Write(&sb); err != nil || !strings.Contains(sb.String(), "not anonymised: patron has 1 unreturned item") {
		t.Errorf("printed report does not say why a patron was held back:\n%s", sb.String())
	}

	// Settling the fee frees the patron: archived and anonymised at once.
	w.exec(`UPDATE fees SET paid_amount = amount, settled_at = $2 WHERE id = $1`, unpaid, months(24))
	delete(wantHeld, pFee)
	r = at(months(24).Add(2 * time.Hour))
	if state(pFee) != "anonymised" {
		t.Errorf("patron whose fee was paid is %s, want anonymised", state(pFee))
	}
	checkHeld(r, retention.StepAnonymise)
}

// TestOneRunAtATime: a second run while the lock is held elsewhere skips.
func TestOneRunAtATime(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	conn, err := w.su.Acquire(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	var key int64
	w.scalar(&key, `SELECT x'726574656e74'::bigint`)
	if _, err := conn.Exec(w.ctx, `SELECT pg_advisory_lock($1)`, key); err != nil {
		t.Fatal(err)
	}
	if _, err := w.eng.Run(w.ctx, retention.Options{}); !errors.Is(err, retention.ErrBusy) {
		t.Fatalf("run while another holds the lock: %v, want ErrBusy", err)
	}
	if _, err := conn.Exec(w.ctx, `SELECT pg_advisory_unlock($1)`, key); err != nil {
		t.Fatal(err)
	}
	w.run(retention.Options{})
	// The run released its lock.
	var free bool
	w.scalar(&free, `SELECT pg_try_advisory_lock($1)`, key)
	if !free {
		t.Error("the lock is still held after the run")
	}
}

// A patron whose access or erasure request is pending is not anonymised
// when the period runs out (the request is answered from the data, or by
// the erasure); the first run after the request is closed anonymises.
func TestPendingRightsRequestHoldsBackAnonymisation(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	lib := w.library("AAA")
	w.exec(`UPDATE library_settings SET archive_after_months = 6, anonymise_after_months = 9 WHERE library_id = $1`, lib)
	asked, other := w.patron(lib, epoch), w.patron(lib, epoch)
	var req string
	w.scalar(&req, `INSERT INTO rights_requests (patron_id, library_id, kind, requested_by_kind, requested_at, due_at)
		VALUES ($1, $2, 'access', 'patron', $3, $3::timestamptz + interval '30 days') RETURNING id::text`, asked, lib, months(9).Add(-24*time.Hour))
	anonymised := func(p string) bool {
		return w.count(`SELECT count(*) FROM patrons WHERE id = $1 AND anonymised_at IS NOT NULL`, p) == 1
	}

	w.clock.Set(months(9).Add(time.Hour))
	r := w.run(retention.Options{})
	if anonymised(asked) || !anonymised(other) {
		t.Fatalf("after 9 months: patron with a pending request anonymised %v (want false), the other %v (want true)", anonymised(asked), anonymised(other))
	}
	var sb strings.Builder
	if err := r.Write(&sb); err != nil || !strings.Contains(sb.String(), "a rights request of the patron is pending (access)") {
		t.Errorf("report does not say why the patron was held back:\n%s", sb.String())
	}

	w.exec(`UPDATE rights_requests SET status = 'fulfilled', closed_at = $2, closed_by_kind = 'staff' WHERE id = $1`, req, months(9).Add(2*time.Hour))
	w.clock.Set(months(9).Add(3 * time.Hour))
	w.run(retention.Options{})
	if !anonymised(asked) {
		t.Error("patron not anonymised at the first run after the request was answered")
	}
}

// A patron step finds its due patrons with one scan at its start and then
// locks them batch by batch; a patron who becomes active in between (logs
// in, borrows) is no longer due when its batch comes and is left alone.
func TestPatronStepRechecksBeforeActing(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	a := w.library("AAA")
	w.exec(`UPDATE library_settings SET archive_after_months = 6, anonymise_after_months = 240 WHERE library_id = $1`, a)
	var ids []string
	for range 3 {
		ids = append(ids, w.patron(a, epoch))
	}
	slices.Sort(ids) // the step's order
	now := months(7)
	w.clock.Set(now)
	var batches int
	r := w.run(retention.Options{BatchSize: 10, Progress: func(p retention.Progress) {
		if p.Step != retention.StepArchive {
			return
		}
		batches++
		if batches == 1 {
			// After the first batch (one patron: a tenth of 10), the last
			// patron logs in at the OPAC.
			w.exec(`UPDATE patrons SET last_login_at = $2 WHERE id = $1`, ids[2], now)
		}
	}})
	if got := r.Count("AAA", retention.StepArchive); got != 2 {
		t.Errorf("archived %d patrons, want 2", got)
	}
	if batches != 3 {
		t.Errorf("%d archive batches, want 3 (one per patron found due)", batches)
	}
	for i, id := range ids {
		want := i < 2
		if got := w.count(`SELECT count(*) FROM patrons WHERE id = $1 AND archived_at IS NOT NULL`, id) == 1; got != want {
			t.Errorf("patron %d archived = %v, want %v", i, got, want)
		}
	}
}

// PatronChanged hears of each patron a batch archived or anonymised, after
// the commit, and of no other: not of a patron held back, nor of anything
// in a dry run. The server drops those patrons' cached principals with it.
func TestPatronChangedAfterCommit(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	lib := w.library("AAA")
	w.exec(`UPDATE library_settings SET archive_after_months = 6, anonymise_after_months = 9 WHERE library_id = $1`, lib)
	idle, stale, busy := w.patron(lib, months(2)), w.patron(lib, epoch), w.patron(lib, epoch)
	w.loan(lib, busy, epoch, time.Time{}) // unreturned: never archived
	var heard []string
	w.eng.PatronChanged = func(id string) {
		var archived bool
		w.scalar(&archived, `SELECT archived_at IS NOT NULL FROM patrons WHERE id = $1`, id) // another connection: committed
		if !archived {
			t.Errorf("told of %s before its archive was visible", id)
		}
		heard = append(heard, id)
	}
	w.clock.Set(months(9).Add(time.Hour))
	w.run(retention.Options{DryRun: true})
	if len(heard) != 0 {
		t.Fatalf("a dry run told of %v", heard)
	}
	w.run(retention.Options{})
	// idle is archived (7 months), stale archived and then anonymised (9):
	// told once per step.
	slices.Sort(heard)
	want := []string{idle, stale, stale}
	slices.Sort(want)
	if !slices.Equal(heard, want) {
		t.Errorf("told of %v, want %v (not the borrower %s)", heard, want, busy)
	}
}
