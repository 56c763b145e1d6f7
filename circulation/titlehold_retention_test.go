package circulation_test

import (
	"context"
	"testing"
	"time"

	"github.com/patronfed/patronfed/circulation"
	"github.com/patronfed/patronfed/circulation/circtest"
	"github.com/patronfed/patronfed/retention"
	"github.com/patronfed/patronfed/testserver"
)

// Finished title holds are history like item holds (privacy-rules §3): a
// year after they end, the retention run cuts the patron from them, captured or not; the record id (not personal) and
// the copy stay for statistics. The patron's history lists them until
// then, also one that never got a copy.
func TestTitleHoldHistoryAnonymised(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	ctx := context.Background()
	brno := s.LibraryID(t, "BRNO")
	p := circtest.NewPatron(t, s, "BRNO", "C8001", "Ivan", "Olbracht")
	q := circtest.NewPatron(t, s, "BRNO", "C8002", "Marie", "Majerová")
	now := s.Clock.Now()
	const rec = "CNB000777777"
	for _, b := range []string{"BRNO-8401", "BRNO-8402"} {
		if _, err := circulation.CreateItem(ctx, s.DB, brno, b, "Anna proletářka", rec, now); err != nil {
			t.Fatal(err)
		}
	}
	// p's hold is cancelled while waiting; q's is captured at check-in
	// and fulfilled by q's checkout.
	waiting, err := circulation.PlaceRecordReservation(ctx, s.DB, p.ID, brno, rec, time.Time{}, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := circulation.CancelReservation(ctx, s.DB, waiting.ID, "", p.ID, now); err != nil {
		t.Fatal(err)
	}
	if _, err := circulation.CheckOut(ctx, s.DB, p.ID, brno, "BRNO-8401", now); err != nil {
		t.Fatal(err)
	}
	captured, err := circulation.PlaceRecordReservation(ctx, s.DB, q.ID, brno, rec, time.Time{}, now)
	if err != nil {
		t.Fatal(err)
	}
	if in, err := circulation.CheckIn(ctx, s.DB, "BRNO-8401", brno, now.Add(time.Hour)); err != nil || !in.Reserved {
		t.Fatalf("check-in: %+v, %v", in, err)
	}
	if _, err := circulation.CheckOut(ctx, s.DB, q.ID, brno, "BRNO-8401", now.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if h, err := circulation.History(ctx, s.DB, p.ID, 10, 0); err != nil || len(h) != 2 {
		t.Errorf("p's history = %+v, %v; want the loan and the cancelled title hold", h, err)
	}

	type row struct {
		patron, record, item *string
	}
	read := func(id string) row {
		t.Helper()
		var r row
		if err := s.DB.QueryRow(ctx, `SELECT patron_id::text, record_id, (SELECT barcode FROM items WHERE id = item_id)
			FROM reservations WHERE id = $1`, id).Scan(&r.patron, &r.record, &r.item); err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := read(captured.ID); r.patron == nil || r.item == nil || *r.item != "BRNO-8401" {
		t.Fatalf("fulfilled title hold before retention: %+v", r)
	}

	// The scheduled retention run, 13 months on.
	s.Clock.Set(now.AddDate(1, 1, 0))
	if _, err := retention.New(s.DB, s.Clock, nil).Run(ctx, retention.Options{LibraryCode: "BRNO"}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{waiting.ID, captured.ID} {
		r := read(id)
		if r.patron != nil || r.record == nil || *r.record != rec {
			t.Errorf("title hold %s after retention: patron %v, record %v; want no patron, the record kept", id, r.patron, r.record)
		}
	}
	if r := read(captured.ID); r.item == nil || *r.item != "BRNO-8401" {
		t.Errorf("the copy that served the hold is gone: %+v", r)
	}
	if h, err := circulation.History(ctx, s.DB, q.ID, 10, 0); err != nil || len(h) != 0 {
		t.Errorf("q's history after retention = %+v, %v", h, err)
	}
}
