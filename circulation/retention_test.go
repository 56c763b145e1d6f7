package circulation_test

import (
	"context"
	"testing"
	"time"

	"github.com/patronfed/patronfed/circulation"
	"github.com/patronfed/patronfed/circulation/circtest"
	"github.com/patronfed/patronfed/pgtest"
	"github.com/patronfed/patronfed/retention"
	"github.com/patronfed/patronfed/testserver"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// A year after it ended, the retention run anonymises the demo patron's
// history: the loans lose the patron, fees stay with the patron but lose
// the title, and the items forget their last borrower. Debts are
// untouched.
func TestAnonymiseExpiredHistory(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	ctx := context.Background()
	id := circtest.DemoPatronID(t, s, "B0001")
	before, err := circulation.DebtsAt(ctx, s.DB, id, testserver.Epoch)
	if err != nil {
		t.Fatal(err)
	}
	run := func(at time.Time) int64 {
		t.Helper()
		s.Clock.Set(at)
		r, err := retention.New(s.DB, s.Clock, nil).Run(ctx, retention.Options{LibraryCode: "BRNO"})
		if err != nil {
			t.Fatal(err)
		}
		return r.Count("BRNO", retention.StepLoans)
	}
	// Nothing is due at the test epoch: the demo history is younger.
	if n := run(testserver.Epoch); n != 0 {
		t.Fatalf("at epoch: anonymised %d loans", n)
	}
	// 2025-11-23 + 12 months < 2026-12-01 < 2026-01-08 + 12 months.
	if n := run(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)); n != 1 {
		t.Fatalf("anonymised %d loans, want 1", n)
	}
	h, err := circulation.History(ctx, s.DB, id, 10, 0)
	if err != nil || len(h) != 1 || h[0].Barcode != "BRNO-0003" {
		t.Errorf("history after anonymising = %v, %v", h, err)
	}
	fees, err := circulation.FeesOfPatron(ctx, s.DB, id, false)
	if err != nil || len(fees) != 2 {
		t.Fatalf("fees: %v, %v", fees, err)
	}
	for _, f := range fees {
		if f.Kind == circulation.FeeDamage && (f.LoanID != "" || f.Title != "" || f.Amount != 15000) {
			t.Errorf("damage fee not detached or changed: %+v", f)
		}
		if f.Kind == circulation.FeeOverdue && f.Title == "" {
			t.Errorf("younger fee detached: %+v", f)
		}
	}
	if _, who, err := circulation.LastBorrower(ctx, s.DB, "BRNO-0002"); err != nil || who != "" {
		t.Errorf("last borrower kept: %q, %v", who, err)
	}
	after, err := circulation.DebtsAt(ctx, s.DB, id, testserver.Epoch)
	if err != nil || len(after.UnpaidFees) != len(before.UnpaidFees) || len(after.UnreturnedItems) != len(before.UnreturnedItems) {
		t.Errorf("debts changed: %+v -> %+v (%v)", before, after, err)
	}
}
