package loans_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/patronfed/patronfed/circulation/circtest"
	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
	"github.com/patronfed/patronfed/testserver"
)

// TestHoldShelfExpiry: expiring BRNO's reservations lists the copies its
// hold shelf holds for nobody any more, and checking each in takes it off:
// of three copies left uncollected past the pickup window, one goes to the
// next title hold (in transit to SLAV), one to the next item hold (on
// BRNO's shelf again, ready for that patron for 7 days) and one back to the
// stacks. A copy whose hold was cancelled while it waited is listed too,
// and one whose patron borrowed another copy of the title; one lent since
// is not. A hold whose copy is not on the shelf expires with nothing to
// clear. The list can be asked for again: a copy stays on it until
// checked in.
func TestHoldShelfExpiry(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	brno, slav := staff(t, s, "brno.circ"), staff(t, s, "slav.circ")
	brnoID, slavID := s.LibraryID(t, "BRNO"), s.LibraryID(t, "SLAV")
	brno.copyOf(t, "BRNO-8501", record)
	brno.item(t, "BRNO-8502", "Karel Čapek: R.U.R.")
	brno.item(t, "BRNO-8503", "Karel Čapek: Krakatit")
	brno.item(t, "BRNO-8504", "Karel Čapek: Válka s mloky")
	a := circtest.NewPatron(t, s, "BRNO", "C8501", "Alena", "Mrázová")
	b := circtest.NewPatron(t, s, "SLAV", "C8502", "Bohumil", "Hrabal")
	c := circtest.NewPatron(t, s, "BRNO", "C8503", "Cyril", "Bouda")
	d := circtest.NewPatron(t, s, "BRNO", "C8504", "Dana", "Medřická")
	e := circtest.NewPatron(t, s, "BRNO", "C8505", "Ema", "Destinnová")
	hold := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	shelved := func(barcode string) {
		t.Helper()
		if in := brno.checkIn(t, barcode); !in.GetReserved() || in.GetPickupLibraryId() != brnoID ||
			in.GetItem().GetHoldShelfLibraryId() != brnoID {
			t.Fatalf("check-in of %s: %v; want on BRNO's hold shelf", barcode, in)
		}
	}
	// a's title hold traps 8501; c's item hold traps 8502, with d next in
	// its queue; e's item hold traps 8503. b holds the title at SLAV.
	_, err := brno.holdTitle(a.Card, record)
	hold(err)
	shelved("BRNO-8501")
	_, err = slav.holdTitle(b.Card, record)
	hold(err)
	_, err = brno.holdItem(c.Card, "BRNO-8502")
	hold(err)
	shelved("BRNO-8502")
	_, err = brno.holdItem(e.Card, "BRNO-8503")
	hold(err)
	shelved("BRNO-8503")
	// e's hold on 8504, lent to a: nothing on the shelf for it.
	if _, err := brno.checkOut(a.Card, "BRNO-8504"); err != nil {
		t.Fatal(err)
	}
	_, err = brno.loans.PlaceReservation(brno.ctx, &pb.PlaceReservationRequest{RequestId: circtest.ReqID(), CardNumber: e.Card,
		Target: &pb.PlaceReservationRequest_ItemBarcode{ItemBarcode: "BRNO-8504"}, ExpireTime: timestamppb.New(s.Clock.Now().Add(24 * time.Hour))})
	hold(err)
	// Two holds cancelled while their copies wait on the shelf: c's by
	// the desk, a's by a in the catalogue. 8507 is then lent to d and
	// returned, so it is no longer on the shelf; 8506 is.
	brno.item(t, "BRNO-8506", "Karel Čapek: Povětroň")
	brno.item(t, "BRNO-8507", "Karel Čapek: Obyčejný život")
	h6, err := brno.holdItem(c.Card, "BRNO-8506")
	hold(err)
	shelved("BRNO-8506")
	h7, err := brno.holdItem(a.Card, "BRNO-8507")
	hold(err)
	shelved("BRNO-8507")
	_, err = brno.loans.CancelReservation(brno.ctx, &pb.CancelReservationRequest{ReservationId: h6.GetId()})
	hold(err)
	_, err = pb.NewOpacLoanServiceClient(s.Conn).CancelMyReservation(testserver.Ctx(s.PatronLogin(t, a.Card)),
		&pb.CancelMyReservationRequest{ReservationId: h7.GetId()})
	hold(err)
	_, err = brno.checkOut(d.Card, "BRNO-8507")
	hold(err)
	if in := brno.checkIn(t, "BRNO-8507"); in.GetReserved() || in.GetItem().GetHoldShelfLibraryId() != "" {
		t.Fatalf("d's return of BRNO-8507: %v; want to the stacks", in)
	}
	s.Clock.Advance(time.Hour)
	brno = staff(t, s, "brno.circ")
	_, err = brno.holdItem(d.Card, "BRNO-8502")
	hold(err)

	expire := func(where string, count int, want ...string) {
		t.Helper()
		n, err := brno.loans.ExpireReservations(brno.ctx, &pb.ExpireReservationsRequest{})
		var got []string
		for _, it := range n.GetShelfToClear() {
			got = append(got, it.GetBarcode())
		}
		if err != nil || int(n.GetExpiredCount()) != count || !slices.Equal(got, want) {
			t.Errorf("%s: %d expired, to clear %v, %v; want %d, %v", where, n.GetExpiredCount(), got, err, count, want)
		}
	}
	// A day on, only e's hold on the lent copy has expired, and the
	// pickup window (7 days) holds the rest: only the cancelled 8506 is to
	// clear, and asking again lists it again.
	s.Clock.Advance(24 * time.Hour)
	brno = staff(t, s, "brno.circ")
	expire("expiry after a day", 1, "BRNO-8506")
	expire("expiry again", 0, "BRNO-8506")
	s.Clock.Advance(7 * 24 * time.Hour)
	brno, slav = staff(t, s, "brno.circ"), staff(t, s, "slav.circ")
	expire("expiry after the pickup window", 3, "BRNO-8501", "BRNO-8502", "BRNO-8503", "BRNO-8506")
	// Over REST, as a desk's web client calls it.
	code, body := s.HTTP(t, "POST", "/v1/reservations:expire", s.Login(t, "brno.circ"), map[string]any{})
	if cl, _ := body["shelfToClear"].([]any); code != 200 || body["expiredCount"] != nil || len(cl) != 4 {
		t.Errorf("expiry over REST: %d %v", code, body)
	}

	// The desk checks each in: 8501 goes on to SLAV for b, 8502 stays
	// for d (ready for 7 days from now), 8503 and 8506 go back to the
	// stacks. Nothing is left to clear.
	checkIn := func(barcode string, reserved bool, pickup, transit, shelf string) {
		t.Helper()
		in := brno.checkIn(t, barcode)
		if in.GetReserved() != reserved || in.GetPickupLibraryId() != pickup || in.GetItem().GetTransitToLibraryId() != transit ||
			in.GetItem().GetHoldShelfLibraryId() != shelf {
			t.Errorf("clearing %s: %v; want reserved %v for %q, in transit to %q, on the shelf of %q", barcode, in, reserved, pickup, transit, shelf)
		}
	}
	checkIn("BRNO-8501", true, slavID, slavID, "")
	checkIn("BRNO-8502", true, brnoID, "", brnoID)
	checkIn("BRNO-8503", false, "", "", "")
	checkIn("BRNO-8506", false, "", "", "")
	expire("expiry after clearing", 0)
	if _, err := brno.loans.CheckIn(brno.ctx, &pb.CheckInRequest{RequestId: circtest.ReqID(), ItemBarcode: "BRNO-8503"}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("a second check-in of the cleared 8503: %v; want FAILED_PRECONDITION (not on loan)", err)
	}

	if tr, err := slav.loans.ListTransits(slav.ctx, &pb.ListTransitsRequest{LibraryId: slavID}); err != nil ||
		len(tr.GetTransits()) != 1 || tr.GetTransits()[0].GetItem().GetBarcode() != "BRNO-8501" {
		t.Errorf("SLAV's transits: %v, %v; want BRNO-8501", tr, err)
	}
	if rs := slav.patronReservations(t, b.ID); len(rs) != 1 || rs[0].GetItem().GetBarcode() != "BRNO-8501" || rs[0].GetReadyTime() != nil {
		t.Errorf("b's title hold: %v; want BRNO-8501, travelling", rs)
	}
	if rs := brno.patronReservations(t, d.ID); len(rs) != 1 || !rs[0].GetReadyTime().AsTime().Equal(s.Clock.Now()) ||
		!rs[0].GetExpireTime().AsTime().Equal(s.Clock.Now().Add(7*24*time.Hour)) {
		t.Errorf("d's item hold: %v; want ready now, for 7 days", rs)
	}
	if _, err := brno.checkOut(c.Card, "BRNO-8503"); err != nil {
		t.Errorf("checkout of the copy back in the stacks: %v", err)
	}
	_, err = brno.checkOut(c.Card, "BRNO-8502") // c's hold expired: it waits for d
	circtest.Code(t, err, codes.FailedPrecondition)

	// b borrows another copy of the title at SLAV: the hold 8501 travels
	// for is fulfilled, so at SLAV 8501 is received for nobody and goes to
	// the stacks. And a shelved copy whose title hold's patron borrows
	// another copy is left for BRNO to clear.
	slav.copyOf(t, "SLAV-8508", record)
	if _, err := slav.checkOut(b.Card, "SLAV-8508"); err != nil {
		t.Fatal(err)
	}
	if in := slav.checkIn(t, "BRNO-8501"); in.GetReserved() || in.GetItem().GetTransitToLibraryId() != "" {
		t.Errorf("receipt at SLAV of a copy whose hold was fulfilled on the way: %v; want to the stacks", in)
	}
	brno.copyOf(t, "BRNO-8509", record)
	_, err = brno.holdTitle(e.Card, record)
	hold(err)
	shelved("BRNO-8509")
	brno.copyOf(t, "BRNO-8510", record)
	if _, err := brno.checkOut(e.Card, "BRNO-8510"); err != nil {
		t.Fatal(err)
	}
	expire("expiry after e borrowed another copy", 0, "BRNO-8509")
}

// whileCancelling runs call while a transaction cancels the reservation
// id: it starts call once the cancel has its row lock, waits until call
// waits for that lock, commits the cancel, and returns what call returned.
func whileCancelling(t *testing.T, s *testserver.Server, id string, call func() error) error {
	t.Helper()
	ctx := context.Background()
	cancel, err := s.DB.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer cancel.Rollback(ctx) //nolint:errcheck
	if _, err := cancel.Exec(ctx, `UPDATE reservations SET status = 'cancelled', finished_at = $2 WHERE id = $1`,
		id, s.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- call() }()
	for deadline := time.Now().Add(10 * time.Second); ; {
		var waiting int
		if err := s.DB.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the call never waited for the cancel")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := cancel.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	return <-done
}

// A cancel that commits while a check-in waits for the hold's row ends the
// hold first: the check-in does not put the copy aside for it, and the
// cancelled hold never becomes ready. A checkout that waits for the first
// hold's cancel still finds the next patron's hold behind it.
func TestCirculationWaitsForConcurrentCancel(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	ctx := context.Background()
	brno := staff(t, s, "brno.circ")
	brno.item(t, "BRNO-8601", "Karel Čapek: Hordubal")
	a := circtest.NewPatron(t, s, "BRNO", "C8601", "Adam", "Hordubal")
	b := circtest.NewPatron(t, s, "BRNO", "C8602", "Polana", "Hordubalová")
	c := circtest.NewPatron(t, s, "BRNO", "C8603", "Štěpán", "Manya")
	if _, err := brno.checkOut(a.Card, "BRNO-8601"); err != nil {
		t.Fatal(err)
	}
	h, err := brno.holdItem(b.Card, "BRNO-8601")
	if err != nil {
		t.Fatal(err)
	}
	var in *pb.CheckInResponse
	err = whileCancelling(t, s, h.GetId(), func() error {
		var err error
		in, err = brno.loans.CheckIn(brno.ctx, &pb.CheckInRequest{RequestId: circtest.ReqID(), ItemBarcode: "BRNO-8601"})
		return err
	})
	if err != nil || in.GetReserved() {
		t.Errorf("check-in racing the cancel: %v, %v; want the copy to the stacks", in, err)
	}
	var ready *time.Time
	if err := s.DB.QueryRow(ctx, `SELECT ready_at FROM reservations WHERE id = $1`, h.GetId()).Scan(&ready); err != nil || ready != nil {
		t.Errorf("the cancelled hold's ready time: %v, %v; want none", ready, err)
	}

	// Two holds on the copy on the open shelf, b's first and c's next;
	// a's checkout waits for b's cancel and is then refused for c's.
	hb, err := brno.holdItem(b.Card, "BRNO-8601")
	if err != nil {
		t.Fatal(err)
	}
	s.Clock.Advance(time.Minute)
	brno = staff(t, s, "brno.circ")
	if _, err := brno.holdItem(c.Card, "BRNO-8601"); err != nil {
		t.Fatal(err)
	}
	err = whileCancelling(t, s, hb.GetId(), func() error {
		_, err := brno.checkOut(a.Card, "BRNO-8601")
		return err
	})
	if msg := circtest.Code(t, err, codes.FailedPrecondition); !strings.Contains(msg, "reserved for another patron") {
		t.Errorf("checkout to a racing the cancel of b's hold, with c's next: %q", msg)
	}
}

// TestHoldShelfList: BRNO's hold shelf lists the reservations whose copies
// wait there, longest waiting first, each with its patron as the policy
// allows (a patron who has withdrawn consent from BRNO is listed without
// patron), every decision audited; not another library's shelf, not a
// hold still waiting for its copy. MarkPickupNotified records the notice
// once, all or nothing, and the unnotified list drops it.
func TestHoldShelfList(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	brno, slav := staff(t, s, "brno.circ"), staff(t, s, "slav.circ")
	brnoID, slavID := s.LibraryID(t, "BRNO"), s.LibraryID(t, "SLAV")
	for _, b := range []string{"BRNO-8801", "BRNO-8802", "BRNO-8803"} {
		brno.item(t, b, "Jan Neruda: Povídky malostranské")
	}
	slav.item(t, "SLAV-8804", "Jan Neruda: Povídky malostranské")
	a := circtest.NewPatron(t, s, "BRNO", "C8801", "Anna", "Náprstková")
	c := circtest.NewPatron(t, s, "BRNO", "C8802", "Cyril", "Pohorský")
	sp := circtest.NewPatron(t, s, "SLAV", "C8803", "Soňa", "Loudová")
	sid := circtest.DemoPatronID(t, s, "S0001") // SLAV's, shares with BRNO
	must := func(r *pb.Reservation, err error) *pb.Reservation {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	h1 := must(brno.holdItem(a.Card, "BRNO-8801"))
	brno.checkIn(t, "BRNO-8801")
	ready1 := s.Clock.Now()
	s.Clock.Advance(time.Hour)
	brno, slav = staff(t, s, "brno.circ"), staff(t, s, "slav.circ")
	h2 := must(brno.holdItem("S0001", "BRNO-8802"))
	brno.checkIn(t, "BRNO-8802")
	if _, err := brno.checkOut(c.Card, "BRNO-8803"); err != nil {
		t.Fatal(err)
	}
	h3 := must(brno.holdItem(a.Card, "BRNO-8803")) // its copy is lent: not on the shelf
	h4 := must(slav.holdItem(sp.Card, "SLAV-8804"))
	slav.checkIn(t, "SLAV-8804")
	// S0001 withdraws the consent to share with BRNO, in the catalogue.
	if _, err := pb.NewConsentServiceClient(s.Conn).WithdrawConsent(testserver.Ctx(s.PatronLogin(t, "S0001")),
		&pb.WithdrawConsentRequest{Scope: pb.ConsentScope_CONSENT_SCOPE_SHARE_WITH_LIBRARY, LibraryId: brnoID}); err != nil {
		t.Fatal(err)
	}

	shelf := func(unnotified bool) []*pb.Reservation {
		t.Helper()
		r, err := brno.loans.ListHoldShelf(brno.ctx, &pb.ListHoldShelfRequest{LibraryId: brnoID, UnnotifiedOnly: unnotified})
		if err != nil {
			t.Fatalf("BRNO's hold shelf: %v", err)
		}
		return r.GetReservations()
	}
	got := shelf(false)
	if len(got) != 2 || got[0].GetId() != h1.GetId() || got[1].GetId() != h2.GetId() {
		t.Fatalf("BRNO's hold shelf: %v; want a's hold, then S0001's", got)
	}
	if got[0].GetPatron().GetName() != "Anna Náprstková" || got[0].GetItem().GetBarcode() != "BRNO-8801" ||
		!got[0].GetReadyTime().AsTime().Equal(ready1) || got[0].GetNotifyTime() != nil {
		t.Errorf("a's hold on the shelf: %v", got[0])
	}
	if got[1].GetPatron() != nil {
		t.Errorf("S0001, who withdrew consent from BRNO, listed with the patron: %v", got[1].GetPatron())
	}
	if n := circtest.AuditCount(t, s, "brno.circ", "loan.read", a.ID, true); n != 1 {
		t.Errorf("allowed shelf reads of a audited %d times, want 1", n)
	}
	if n := circtest.AuditCount(t, s, "brno.circ", "loan.read", sid, false); n != 1 {
		t.Errorf("denied shelf reads of S0001 audited %d times, want 1", n)
	}
	code, body := s.HTTP(t, "GET", "/v1/libraries/"+brnoID+"/holdShelf?unnotifiedOnly=true", s.Login(t, "brno.circ"), nil)
	if rs, _ := body["reservations"].([]any); code != 200 || len(rs) != 2 {
		t.Errorf("BRNO's hold shelf over REST: %d %v", code, body)
	}
	_, err := brno.loans.ListHoldShelf(brno.ctx, &pb.ListHoldShelfRequest{LibraryId: slavID})
	circtest.Code(t, err, codes.PermissionDenied)

	// a is told: the unnotified list keeps only S0001's hold. A retry an
	// hour later keeps the first time.
	mark := func(ids ...string) error {
		_, err := brno.loans.MarkPickupNotified(brno.ctx, &pb.MarkPickupNotifiedRequest{ReservationIds: ids})
		return err
	}
	if err := mark(h1.GetId()); err != nil {
		t.Fatal(err)
	}
	told := s.Clock.Now()
	if un := shelf(true); len(un) != 1 || un[0].GetId() != h2.GetId() {
		t.Errorf("unnotified after a was told: %v; want S0001's hold", un)
	}
	s.Clock.Advance(time.Hour)
	brno = staff(t, s, "brno.circ")
	if err := mark(h1.GetId()); err != nil {
		t.Errorf("retried mark: %v", err)
	}
	if got := shelf(false); !got[0].GetNotifyTime().AsTime().Equal(told) {
		t.Errorf("a's notice time after a retry: %v; want %v", got[0].GetNotifyTime().AsTime(), told)
	}
	// All or nothing: SLAV's hold and a hold still waiting for its copy
	// are not on BRNO's shelf, and S0001's stays unmarked.
	for _, other := range []string{h4.GetId(), h3.GetId()} {
		err := mark(h2.GetId(), other)
		if msg := circtest.Code(t, err, codes.NotFound); !strings.Contains(msg, other) {
			t.Errorf("marking %s with BRNO's: %q; want it named", other, msg)
		}
	}
	if un := shelf(true); len(un) != 1 || un[0].GetId() != h2.GetId() {
		t.Errorf("unnotified after refused marks: %v; want S0001's hold still", un)
	}
	_, err = brno.loans.MarkPickupNotified(brno.ctx, &pb.MarkPickupNotifiedRequest{ReservationIds: []string{"x"}})
	circtest.Code(t, err, codes.InvalidArgument)
	// Collected: off the shelf.
	if _, err := brno.checkOut(a.Card, "BRNO-8801"); err != nil {
		t.Fatal(err)
	}
	if got := shelf(false); len(got) != 1 || got[0].GetId() != h2.GetId() {
		t.Errorf("BRNO's hold shelf after a collected: %v", got)
	}
}

// A copy on a hold shelf stays with the hold it waits for there: a hold
// placed in the same instant that sorts before it (here with the least
// id) queues behind it. Scanned at another library, the copy goes back in
// transit and its hold is not ready until it is on the shelf again, with a
// new pickup window.
func TestShelvedCopyKeepsItsHold(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	brno, slav := staff(t, s, "brno.circ"), staff(t, s, "slav.circ")
	brnoID := s.LibraryID(t, "BRNO")
	brno.item(t, "BRNO-8901", "Ivan Olbracht: Nikola Šuhaj loupežník")
	a := circtest.NewPatron(t, s, "BRNO", "C8901", "Anna", "Olbrachtová")
	b := circtest.NewPatron(t, s, "BRNO", "C8902", "Bedřich", "Šuhaj")
	h, err := brno.holdItem(a.Card, "BRNO-8901")
	if err != nil {
		t.Fatal(err)
	}
	brno.checkIn(t, "BRNO-8901")
	if _, err := s.DB.Exec(t.Context(), `INSERT INTO reservations (id, item_id, patron_id, pickup_library_id, placed_at, expires_at)
		SELECT '00000000-0000-0000-0000-000000000001', item_id, $2, pickup_library_id, placed_at, expires_at + interval '30 days'
		FROM reservations WHERE id = $1`, h.GetId(), b.ID); err != nil {
		t.Fatal(err)
	}
	if rs := brno.patronReservations(t, b.ID); len(rs) != 1 || rs[0].GetQueuePosition() != 2 {
		t.Errorf("b's tied hold: %v; want second in the queue", rs)
	}
	if in := brno.checkIn(t, "BRNO-8901"); !in.GetReserved() {
		t.Errorf("rescan on the shelf: %v", in)
	}
	if _, err := brno.checkOut(b.Card, "BRNO-8901"); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("checkout to b of a's shelved copy: %v; want FAILED_PRECONDITION", err)
	}
	if rs := brno.patronReservations(t, a.ID); len(rs) != 1 || rs[0].GetReadyTime() == nil || rs[0].GetQueuePosition() != 1 {
		t.Errorf("a's hold: %v; want ready, first", rs)
	}

	// Another copy held for a, carried to SLAV and scanned there: back in
	// transit, a's hold not ready; received at BRNO a day later: ready
	// again, for 7 days.
	brno.item(t, "BRNO-8902", "Ivan Olbracht: Anna proletářka")
	h2, err := brno.holdItem(a.Card, "BRNO-8902")
	if err != nil {
		t.Fatal(err)
	}
	brno.checkIn(t, "BRNO-8902")
	shelfTime := func() *timestamppb.Timestamp {
		t.Helper()
		for _, r := range brno.patronReservations(t, a.ID) {
			if r.GetId() == h2.GetId() {
				return r.GetReadyTime()
			}
		}
		t.Fatalf("a's hold on BRNO-8902 is gone")
		return nil
	}
	in := slav.checkIn(t, "BRNO-8902")
	if !in.GetReserved() || in.GetItem().GetTransitToLibraryId() != brnoID || in.GetItem().GetHoldShelfLibraryId() != "" {
		t.Errorf("scan at SLAV of a copy on BRNO's hold shelf: %v; want in transit to BRNO", in)
	}
	if ready := shelfTime(); ready != nil {
		t.Errorf("a's hold while the copy travels back: ready since %v; want not ready", ready.AsTime())
	}
	s.Clock.Advance(24 * time.Hour)
	brno = staff(t, s, "brno.circ")
	brno.checkIn(t, "BRNO-8902")
	if ready := shelfTime(); ready == nil || !ready.AsTime().Equal(s.Clock.Now()) {
		t.Errorf("a's hold after the copy came back: ready %v; want ready now", ready)
	}
	if _, err := brno.checkOut(a.Card, "BRNO-8902"); err != nil {
		t.Errorf("checkout to a: %v", err)
	}
}
