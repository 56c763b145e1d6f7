package loans_test

import (
	"context"
	"fmt"
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

const record = "CNB000999001" // not a demo record

// copyOf adds a copy of the catalogue record rec owned by the desk's library.
func (d desk) copyOf(t *testing.T, barcode, rec string) {
	t.Helper()
	r, err := d.loans.CreateItem(d.ctx, &pb.CreateItemRequest{Barcode: barcode, Title: "Jaroslav Hašek: Švejk", RecordId: rec})
	if err != nil || r.GetItem().GetRecordId() != rec {
		t.Fatalf("create copy %s of %s: %v, %v", barcode, rec, r, err)
	}
}

func (d desk) holdTitle(card, rec string) (*pb.Reservation, error) {
	r, err := d.loans.PlaceReservation(d.ctx, &pb.PlaceReservationRequest{RequestId: circtest.ReqID(), CardNumber: card,
		Target: &pb.PlaceReservationRequest_RecordId{RecordId: rec}})
	return r.GetReservation(), err
}

func (d desk) holdItem(card, barcode string) (*pb.Reservation, error) {
	r, err := d.loans.PlaceReservation(d.ctx, &pb.PlaceReservationRequest{RequestId: circtest.ReqID(), CardNumber: card,
		Target: &pb.PlaceReservationRequest_ItemBarcode{ItemBarcode: barcode}})
	return r.GetReservation(), err
}

func (d desk) patronReservations(t *testing.T, patronID string) []*pb.Reservation {
	t.Helper()
	r, err := d.loans.ListPatronReservations(d.ctx, &pb.ListPatronReservationsRequest{PatronId: patronID})
	if err != nil {
		t.Fatalf("list reservations: %v", err)
	}
	return r.GetReservations()
}

// Items carry an optional catalogue record id, validated.
func TestItemRecordID(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	brno := staff(t, s, "brno.circ")
	brno.copyOf(t, "BRNO-8100", record)
	got, err := brno.loans.GetItem(brno.ctx, &pb.GetItemRequest{ItemBarcode: "BRNO-8100"})
	if err != nil || got.GetItem().GetRecordId() != record {
		t.Errorf("get item: %v, %v", got, err)
	}
	plain, err := brno.loans.CreateItem(brno.ctx, &pb.CreateItemRequest{Barcode: "BRNO-8109", Title: "Bez záznamu"})
	if err != nil || plain.GetItem().GetRecordId() != "" {
		t.Errorf("item without a record: %v, %v", plain, err)
	}
	for _, bad := range []string{" CNB1", "CNB1 ", strings.Repeat("x", 65), "CNB\n1", "ČNB1"} {
		_, err := brno.loans.CreateItem(brno.ctx, &pb.CreateItemRequest{Barcode: "BRNO-8108", Title: "X", RecordId: bad})
		circtest.Code(t, err, codes.InvalidArgument)
	}
	// Over REST as recordId.
	tok := s.Login(t, "brno.circ")
	code, body := s.HTTP(t, "POST", "/v1/items", tok, map[string]any{"barcode": "BRNO-8107", "title": "Y", "recordId": "(OCoLC)123 45"})
	if code != 200 || body["item"].(map[string]any)["recordId"] != "(OCoLC)123 45" {
		t.Errorf("create over REST: %d %v", code, body)
	}
}

// A title hold waits for the first copy of its record that comes back:
// an item hold on the returned copy goes first; the next copy back is
// captured for the oldest title hold and from then on is held like an item
// hold (another patron's checkout refused, the hold patron's fulfils it);
// a copy on the shelf is free to lend and fulfils the borrower's own title
// hold; duplicates, records without a lendable copy and patrons already
// borrowing a copy are refused; a retry returns the first hold.
func TestTitleHolds(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	brno := staff(t, s, "brno.circ")
	brno.copyOf(t, "BRNO-8101", record)
	brno.copyOf(t, "BRNO-8102", record)
	a := circtest.NewPatron(t, s, "BRNO", "C5001", "Adam", "První")
	b := circtest.NewPatron(t, s, "BRNO", "C5002", "Bára", "Druhá")
	c := circtest.NewPatron(t, s, "BRNO", "C5003", "Cyril", "Třetí")
	d := circtest.NewPatron(t, s, "BRNO", "C5004", "Dana", "Čtvrtá")
	e := circtest.NewPatron(t, s, "BRNO", "C5005", "Emil", "Pátý")

	// Both copies out.
	for card, barcode := range map[string]string{a.Card: "BRNO-8101", d.Card: "BRNO-8102"} {
		if _, err := brno.checkOut(card, barcode); err != nil {
			t.Fatal(err)
		}
	}

	// b holds the title; the retry of the request returns the same hold.
	req := &pb.PlaceReservationRequest{RequestId: circtest.ReqID(), CardNumber: b.Card,
		Target: &pb.PlaceReservationRequest_RecordId{RecordId: record}}
	first, err := brno.loans.PlaceReservation(brno.ctx, req)
	if err != nil {
		t.Fatalf("title hold: %v", err)
	}
	hb := first.GetReservation()
	if hb.GetRecordId() != record || hb.GetItem() != nil || hb.GetQueuePosition() != 1 ||
		hb.GetTitle() != "Jaroslav Hašek: Švejk" || hb.GetPatron().GetName() != b.Name || hb.GetPickupLibraryId() != s.LibraryID(t, "BRNO") {
		t.Errorf("title hold = %v", hb)
	}
	if want := s.Clock.Now().Add(14 * 24 * time.Hour); !hb.GetExpireTime().AsTime().Equal(want) {
		t.Errorf("expires %v, want %v (BRNO's reservation days)", hb.GetExpireTime().AsTime(), want)
	}
	again, err := brno.loans.PlaceReservation(brno.ctx, req)
	if err != nil || again.GetReservation().GetId() != hb.GetId() {
		t.Errorf("retry: %v, %v; want the first hold", again, err)
	}
	other := &pb.PlaceReservationRequest{RequestId: req.GetRequestId(), CardNumber: b.Card,
		Target: &pb.PlaceReservationRequest_ItemBarcode{ItemBarcode: "BRNO-8101"}}
	if _, err := brno.loans.PlaceReservation(brno.ctx, other); err == nil {
		t.Error("request id reused for an item hold: accepted")
	} else {
		circtest.Code(t, err, codes.InvalidArgument)
	}
	if n := circtest.AuditCount(t, s, "brno.circ", "loan.checkout", b.ID, true); n != 1 {
		t.Errorf("audit rows of placing the title hold = %d, want 1", n)
	}

	// Refusals, with the reason.
	_, err = brno.holdTitle(b.Card, record)
	if msg := circtest.Code(t, err, codes.FailedPrecondition); !strings.Contains(msg, "already has an active reservation for this title") {
		t.Errorf("duplicate title hold: %q", msg)
	}
	_, err = brno.holdTitle(d.Card, record)
	if msg := circtest.Code(t, err, codes.FailedPrecondition); !strings.Contains(msg, "copy of this title on loan") {
		t.Errorf("title hold by a borrower of a copy: %q", msg)
	}
	_, err = brno.holdTitle(c.Card, "CNB999999999")
	if msg := circtest.Code(t, err, codes.FailedPrecondition); !strings.Contains(msg, "no copy of this title can be lent") {
		t.Errorf("record without copies: %q", msg)
	}
	brno.copyOf(t, "BRNO-8190", "CNB-LOST")
	if _, err := s.DB.Exec(context.Background(), `UPDATE items SET status = 'withdrawn' WHERE barcode = 'BRNO-8190'`); err != nil {
		t.Fatal(err)
	}
	_, err = brno.holdTitle(c.Card, "CNB-LOST")
	if msg := circtest.Code(t, err, codes.FailedPrecondition); !strings.Contains(msg, "missing or withdrawn") {
		t.Errorf("record whose only copy is withdrawn: %q", msg)
	}
	_, err = brno.loans.PlaceReservation(brno.ctx, &pb.PlaceReservationRequest{RequestId: circtest.ReqID(), CardNumber: c.Card})
	circtest.Code(t, err, codes.InvalidArgument) // neither item nor record

	// c holds the title too (REST), a minute later: second in its queue;
	// e holds copy 8101.
	s.Clock.Advance(time.Minute)
	code, body := s.HTTP(t, "POST", "/v1/reservations", s.Login(t, "brno.circ"),
		map[string]any{"requestId": circtest.ReqID(), "cardNumber": c.Card, "recordId": record})
	if hc, _ := body["reservation"].(map[string]any); code != 200 || hc["recordId"] != record || hc["queuePosition"] != float64(2) {
		t.Fatalf("second title hold over REST: %d %v", code, body)
	}
	if _, err := brno.holdItem(e.Card, "BRNO-8101"); err != nil {
		t.Fatal(err)
	}

	// 8101 comes back: e's item hold goes first, no title hold captured.
	if in := brno.checkIn(t, "BRNO-8101"); !in.GetReserved() || in.GetPickupLibraryId() != s.LibraryID(t, "BRNO") {
		t.Errorf("check-in of a copy with an item hold: reserved %v, pickup %q; want reserved, at BRNO", in.GetReserved(), in.GetPickupLibraryId())
	}
	if rs := brno.patronReservations(t, b.ID); len(rs) != 1 || rs[0].GetItem() != nil {
		t.Errorf("title hold captured past an item hold: %v", rs)
	}
	if _, err := brno.checkOut(e.Card, "BRNO-8101"); err != nil {
		t.Fatalf("checkout by the item hold's patron: %v", err)
	}

	// 8102 comes back: captured for b, the oldest title hold.
	if in := brno.checkIn(t, "BRNO-8102"); !in.GetReserved() {
		t.Error("check-in of a copy wanted by a title hold: not reserved")
	}
	rs := brno.patronReservations(t, b.ID)
	if len(rs) != 1 || rs[0].GetId() != hb.GetId() || rs[0].GetRecordId() != record ||
		rs[0].GetItem().GetBarcode() != "BRNO-8102" || rs[0].GetQueuePosition() != 1 {
		t.Fatalf("captured hold = %v", rs)
	}
	if rs := brno.patronReservations(t, c.ID); len(rs) != 1 || rs[0].GetItem() != nil || rs[0].GetQueuePosition() != 1 {
		t.Errorf("c's title hold after b's was captured: %v", rs)
	}
	// Held for b like an item hold.
	if _, err := brno.checkOut(c.Card, "BRNO-8102"); circtest.Code(t, err, codes.FailedPrecondition) != "item is reserved for another patron" {
		t.Errorf("checkout of the captured copy by another patron: %v", err)
	}
	if _, err := brno.checkOut(b.Card, "BRNO-8102"); err != nil {
		t.Fatalf("checkout of the captured copy by the hold's patron: %v", err)
	}
	if rs := brno.patronReservations(t, b.ID); len(rs) != 0 {
		t.Errorf("fulfilled title hold still listed: %v", rs)
	}

	// A copy on the shelf is free despite c's waiting title hold ...
	brno.copyOf(t, "BRNO-8103", record)
	brno.copyOf(t, "BRNO-8104", record)
	if _, err := brno.checkOut(a.Card, "BRNO-8103"); err != nil {
		t.Fatalf("shelf copy with a waiting title hold: %v", err)
	}
	if rs := brno.patronReservations(t, c.ID); len(rs) != 1 {
		t.Errorf("another patron's checkout touched c's hold: %v", rs)
	}
	// ... and c's own checkout of one fulfils c's title hold.
	if _, err := brno.checkOut(c.Card, "BRNO-8104"); err != nil {
		t.Fatalf("shelf copy by the title hold's patron: %v", err)
	}
	if rs := brno.patronReservations(t, c.ID); len(rs) != 0 {
		t.Errorf("title hold not fulfilled by the patron's checkout: %v", rs)
	}
	// Nobody waits any more: a copy back goes to the shelf.
	if in := brno.checkIn(t, "BRNO-8103"); in.GetReserved() || in.GetPickupLibraryId() != "" {
		t.Errorf("check-in with no hold waiting: reserved %v, pickup %q", in.GetReserved(), in.GetPickupLibraryId())
	}

	// The patrons' history: fulfilled, with the record and the copy.
	for _, p := range []struct {
		patron  circtest.Patron
		barcode string
	}{{b, "BRNO-8102"}, {c, "BRNO-8104"}} {
		h := history(t, s, p.patron)
		if len(h) != 1 || h[0].GetRecordId() != record || h[0].GetItemBarcode() != p.barcode ||
			h[0].GetOutcome() != pb.HistoryOutcome_HISTORY_OUTCOME_FULFILLED {
			t.Errorf("history of %s = %v", p.patron.Card, h)
		}
	}
}

func history(t *testing.T, s *testserver.Server, p circtest.Patron) []*pb.HistoryEntry {
	t.Helper()
	h, err := pb.NewOpacLoanServiceClient(s.Conn).ListMyHistory(testserver.Ctx(s.PatronLogin(t, p.Card)), &pb.ListMyHistoryRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var out []*pb.HistoryEntry
	for _, e := range h.GetEntries() {
		if e.GetKind() == pb.HistoryEntryKind_HISTORY_ENTRY_KIND_RESERVATION {
			out = append(out, e)
		}
	}
	return out
}

// Title holds are cancelled and expire like item holds, captured or not,
// and become history with the record id; a cancelled captured hold frees
// its copy.
func TestTitleHoldCancelExpire(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	brno := staff(t, s, "brno.circ")
	brno.copyOf(t, "BRNO-8201", record)
	a := circtest.NewPatron(t, s, "BRNO", "C6001", "Alois", "Jirásek")
	b := circtest.NewPatron(t, s, "BRNO", "C6002", "Božena", "Němcová")
	c := circtest.NewPatron(t, s, "BRNO", "C6003", "Karel", "Mácha")

	// Cancelled while waiting: history without a copy, with the title.
	h, err := brno.holdTitle(a.Card, record)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := brno.loans.CancelReservation(brno.ctx, &pb.CancelReservationRequest{ReservationId: h.GetId()}); err != nil {
		t.Fatal(err)
	}
	if hist := history(t, s, a); len(hist) != 1 || hist[0].GetRecordId() != record || hist[0].GetItemBarcode() != "" ||
		hist[0].GetTitle() != "Jaroslav Hašek: Švejk" || hist[0].GetOutcome() != pb.HistoryOutcome_HISTORY_OUTCOME_CANCELLED {
		t.Errorf("history of a cancelled title hold = %v", hist)
	}
	// Once cancelled, the patron may hold the title again.
	if _, err := brno.holdTitle(a.Card, record); err != nil {
		t.Fatalf("title hold after cancelling: %v", err)
	}

	// Captured, then cancelled: the copy is free again.
	if _, err := brno.checkOut(c.Card, "BRNO-8201"); err != nil {
		t.Fatal(err)
	}
	s.Clock.Advance(time.Hour)
	brno = staff(t, s, "brno.circ") // token expired
	hb, err := brno.holdTitle(b.Card, record)
	if err != nil {
		t.Fatal(err)
	}
	// a's hold, the older, is captured; cancelled, it frees the copy.
	if in := brno.checkIn(t, "BRNO-8201"); !in.GetReserved() {
		t.Fatal("not captured")
	}
	ra := brno.patronReservations(t, a.ID)
	if len(ra) != 1 || ra[0].GetItem().GetBarcode() != "BRNO-8201" {
		t.Fatalf("a's hold = %v", ra)
	}
	if _, err := brno.loans.CancelReservation(brno.ctx, &pb.CancelReservationRequest{ReservationId: ra[0].GetId()}); err != nil {
		t.Fatal(err)
	}
	if hist := history(t, s, a); len(hist) != 2 || hist[0].GetItemBarcode() != "BRNO-8201" || hist[0].GetRecordId() != record {
		t.Errorf("history of a cancelled captured hold = %v", hist)
	}
	if _, err := brno.checkOut(c.Card, "BRNO-8201"); err != nil {
		t.Fatalf("checkout of a copy whose captured hold was cancelled: %v", err)
	}
	// c's checkout of a copy did not fulfil b's hold (c's own hold only).
	if rb := brno.patronReservations(t, b.ID); len(rb) != 1 || rb[0].GetId() != hb.GetId() {
		t.Errorf("b's hold = %v", rb)
	}

	// Expiry: b's waiting title hold expires with the library's others.
	s.Clock.Advance(15 * 24 * time.Hour)
	brno = staff(t, s, "brno.circ")
	if n, err := brno.loans.ExpireReservations(brno.ctx, &pb.ExpireReservationsRequest{}); err != nil || n.GetExpiredCount() != 1 {
		t.Errorf("expire: %v, %v", n, err)
	}
	if hist := history(t, s, b); len(hist) != 1 || hist[0].GetRecordId() != record ||
		hist[0].GetOutcome() != pb.HistoryOutcome_HISTORY_OUTCOME_EXPIRED {
		t.Errorf("history of an expired title hold = %v", hist)
	}
}

// TestTransit: a title hold for pickup at SLAV captures the first copy
// checked in anywhere, here BRNO's own copy at BRNO, which goes into
// transit to SLAV: lent nowhere else, still on its way after a stop at
// KORS, received at SLAV (idempotently), and lent there to the hold's
// patron. A copy whose hold is cancelled on the way goes to the shelf
// where it arrives.
func TestTransit(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	brno, slav, kors := staff(t, s, "brno.circ"), staff(t, s, "slav.circ"), staff(t, s, "kors.circ")
	brnoID, slavID := s.LibraryID(t, "BRNO"), s.LibraryID(t, "SLAV")
	brno.copyOf(t, "BRNO-8401", record)
	a := circtest.NewPatron(t, s, "BRNO", "C8001", "Karel", "Čapek")
	b := circtest.NewPatron(t, s, "SLAV", "C8002", "Božena", "Němcová")
	c := circtest.NewPatron(t, s, "BRNO", "C8003", "Jan", "Amos")
	if _, err := brno.checkOut(a.Card, "BRNO-8401"); err != nil {
		t.Fatal(err)
	}
	h, err := slav.holdTitle(b.Card, record)
	if err != nil {
		t.Fatalf("SLAV's title hold on a title only BRNO has: %v", err)
	}
	if h.GetPickupLibraryId() != slavID {
		t.Fatalf("hold's pickup library %q, want SLAV's", h.GetPickupLibraryId())
	}
	checkIn := func(d desk, req *pb.CheckInRequest, reserved bool, pickup, transit, where string) {
		t.Helper()
		in, err := d.loans.CheckIn(d.ctx, req)
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		if in.GetReserved() != reserved || in.GetPickupLibraryId() != pickup || in.GetItem().GetTransitToLibraryId() != transit {
			t.Errorf("%s: reserved %v, pickup %q, in transit to %q; want %v, %q, %q", where,
				in.GetReserved(), in.GetPickupLibraryId(), in.GetItem().GetTransitToLibraryId(), reserved, pickup, transit)
		}
	}

	// Returned at BRNO: captured for b, in transit to SLAV; a retry says so again.
	back := &pb.CheckInRequest{RequestId: circtest.ReqID(), ItemBarcode: "BRNO-8401"}
	checkIn(brno, back, true, slavID, slavID, "check-in at BRNO")
	checkIn(brno, back, true, slavID, slavID, "retried check-in at BRNO")
	// SLAV's desk sees it coming (over REST too); BRNO's list is not
	// SLAV's to read.
	sent := s.Clock.Now()
	tr, err := slav.loans.ListTransits(slav.ctx, &pb.ListTransitsRequest{LibraryId: slavID})
	if err != nil || len(tr.GetTransits()) != 1 || tr.GetTransits()[0].GetItem().GetBarcode() != "BRNO-8401" ||
		!tr.GetTransits()[0].GetSinceTime().AsTime().Equal(sent) {
		t.Errorf("SLAV's transits: %v, %v; want BRNO-8401 since %v", tr, err, sent)
	}
	code, body := s.HTTP(t, "GET", "/v1/libraries/"+slavID+"/transits", s.Login(t, "slav.circ"), nil)
	if ts, _ := body["transits"].([]any); code != 200 || len(ts) != 1 {
		t.Errorf("SLAV's transits over REST: %d %v", code, body)
	}
	if tr, err := brno.loans.ListTransits(brno.ctx, &pb.ListTransitsRequest{LibraryId: brnoID}); err != nil || len(tr.GetTransits()) != 0 {
		t.Errorf("BRNO's transits: %v, %v; want none", tr, err)
	}
	// BRNO sees what it sent: from BRNO to SLAV (over REST too).
	outgoing := func(d desk, lib string) []*pb.Transit {
		t.Helper()
		tr, err := d.loans.ListTransits(d.ctx, &pb.ListTransitsRequest{LibraryId: lib, Direction: pb.TransitDirection_TRANSIT_DIRECTION_OUTGOING})
		if err != nil {
			t.Fatalf("outgoing transits: %v", err)
		}
		return tr.GetTransits()
	}
	if out := outgoing(brno, brnoID); len(out) != 1 || out[0].GetItem().GetBarcode() != "BRNO-8401" ||
		out[0].GetItem().GetTransitFromLibraryId() != brnoID || out[0].GetItem().GetTransitToLibraryId() != slavID {
		t.Errorf("BRNO's outgoing transits: %v; want BRNO-8401 from BRNO to SLAV", out)
	}
	if out := outgoing(slav, slavID); len(out) != 0 {
		t.Errorf("SLAV's outgoing transits: %v; want none", out)
	}
	code, body = s.HTTP(t, "GET", "/v1/libraries/"+brnoID+"/transits?direction=TRANSIT_DIRECTION_OUTGOING", s.Login(t, "brno.circ"), nil)
	if ts, _ := body["transits"].([]any); code != 200 || len(ts) != 1 {
		t.Errorf("BRNO's outgoing transits over REST: %d %v", code, body)
	}
	_, err = brno.loans.ListTransits(brno.ctx, &pb.ListTransitsRequest{LibraryId: slavID})
	circtest.Code(t, err, codes.PermissionDenied)
	// Lent nowhere but at SLAV, with the reason.
	_, err = brno.checkOut(c.Card, "BRNO-8401")
	if msg := circtest.Code(t, err, codes.FailedPrecondition); !strings.Contains(msg, "in transit to library "+slavID) {
		t.Errorf("checkout at BRNO of a copy in transit to SLAV: %q", msg)
	}
	// A stop on the way changes nothing.
	checkIn(kors, &pb.CheckInRequest{RequestId: circtest.ReqID(), ItemBarcode: "BRNO-8401"}, true, slavID, slavID, "check-in at KORS on the way")
	if out := outgoing(brno, brnoID); len(out) != 1 {
		t.Errorf("BRNO's outgoing transits after the stop at KORS: %v; want BRNO-8401 still", out)
	}
	if out := outgoing(kors, s.LibraryID(t, "KORS")); len(out) != 0 {
		t.Errorf("KORS's outgoing transits: %v; want none (it only passed through)", out)
	}
	// Still on its way ten days later: b's hold is not ready and keeps
	// the expiry it was placed with (SLAV's reservation_days, 14).
	placedExpiry := h.GetExpireTime().AsTime()
	s.Clock.Advance(10 * 24 * time.Hour)
	brno, slav, kors = staff(t, s, "brno.circ"), staff(t, s, "slav.circ"), staff(t, s, "kors.circ")
	if rs := slav.patronReservations(t, b.ID); len(rs) != 1 || rs[0].GetReadyTime() != nil || !rs[0].GetExpireTime().AsTime().Equal(placedExpiry) {
		t.Errorf("b's hold while its copy travels: %v; want not ready, expiring %v", rs, placedExpiry)
	}
	// Received at SLAV, waiting for b; a retry says the same, and so does
	// a new scan.
	arrive := &pb.CheckInRequest{RequestId: circtest.ReqID(), ItemBarcode: "BRNO-8401"}
	checkIn(slav, arrive, true, slavID, "", "receipt at SLAV")
	// On SLAV's hold shelf: ready now, and b has SLAV's pickup_days (7)
	// from now, past the 4 days left of the hold's own expiry.
	if rs := slav.patronReservations(t, b.ID); len(rs) != 1 || !rs[0].GetReadyTime().AsTime().Equal(s.Clock.Now()) ||
		!rs[0].GetExpireTime().AsTime().Equal(s.Clock.Now().Add(7*24*time.Hour)) {
		t.Errorf("b's hold on the shelf: %v; want ready now, expiring in 7 days", rs)
	}
	mine, err := pb.NewOpacLoanServiceClient(s.Conn).ListMyReservations(testserver.Ctx(s.PatronLogin(t, b.Card)), &pb.ListMyReservationsRequest{})
	if err != nil || len(mine.GetReservations()) != 1 || !mine.GetReservations()[0].GetReadyTime().AsTime().Equal(s.Clock.Now()) ||
		mine.GetReservations()[0].GetItem().GetBarcode() != "BRNO-8401" {
		t.Errorf("b's own view of the hold on the shelf: %v, %v; want BRNO-8401, ready now", mine, err)
	}
	s.Clock.Advance(time.Minute)
	checkIn(slav, arrive, true, slavID, "", "retried receipt at SLAV")
	if rs := slav.patronReservations(t, b.ID); len(rs) != 1 || !rs[0].GetReadyTime().AsTime().Equal(s.Clock.Now().Add(-time.Minute)) {
		t.Errorf("b's hold after a retried receipt: %v; want the first receipt's time", rs)
	}
	checkIn(slav, &pb.CheckInRequest{RequestId: circtest.ReqID(), ItemBarcode: "BRNO-8401"}, true, slavID, "", "new scan at SLAV")
	if tr, err := slav.loans.ListTransits(slav.ctx, &pb.ListTransitsRequest{LibraryId: slavID}); err != nil || len(tr.GetTransits()) != 0 {
		t.Errorf("SLAV's transits after the receipt: %v, %v; want none", tr, err)
	}
	if out := outgoing(brno, brnoID); len(out) != 0 {
		t.Errorf("BRNO's outgoing transits after the receipt: %v; want none", out)
	}
	if _, err := slav.checkOut(b.Card, "BRNO-8401"); err != nil {
		t.Fatalf("checkout at SLAV by the hold's patron: %v", err)
	}
	if rs := slav.patronReservations(t, b.ID); len(rs) != 0 {
		t.Errorf("b's hold after the checkout: %v", rs)
	}

	// An item hold at BRNO; b returns the copy at SLAV (over REST, as a
	// desk's web client reads it): in transit to BRNO.
	hold, err := brno.holdItem(a.Card, "BRNO-8401")
	if err != nil {
		t.Fatal(err)
	}
	code, body = s.HTTP(t, "POST", "/v1/loans:checkIn", s.Login(t, "slav.circ"),
		map[string]any{"requestId": circtest.ReqID(), "itemBarcode": "BRNO-8401"})
	item, _ := body["item"].(map[string]any)
	if code != 200 || body["reserved"] != true || body["pickupLibraryId"] != brnoID || item["transitToLibraryId"] != brnoID {
		t.Errorf("check-in at SLAV of a copy BRNO's item hold waits for, over REST: %d %v; want in transit to BRNO", code, body)
	}
	// The hold is cancelled on the way: the copy still travels (KORS may
	// not lend it), and goes to the shelf at BRNO, where BRNO lends it.
	if _, err := brno.loans.CancelReservation(brno.ctx, &pb.CancelReservationRequest{ReservationId: hold.GetId()}); err != nil {
		t.Fatal(err)
	}
	kp := circtest.NewPatron(t, s, "KORS", "C8004", "Tove", "Jansson")
	if _, err := kors.checkOut(kp.Card, "BRNO-8401"); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("checkout at KORS of a copy in transit to BRNO: %v", err)
	}
	checkIn(brno, &pb.CheckInRequest{RequestId: circtest.ReqID(), ItemBarcode: "BRNO-8401"}, false, "", "", "receipt at BRNO after the cancellation")
	if _, err := brno.checkOut(c.Card, "BRNO-8401"); err != nil {
		t.Fatalf("checkout at BRNO after the copy arrived: %v", err)
	}

	// Lost on the way: b holds the title again, c's return sends the copy
	// to SLAV, and BRNO marks it missing. It is no longer in transit, and
	// b's hold waits for another copy.
	if _, err := slav.holdTitle(b.Card, record); err != nil {
		t.Fatal(err)
	}
	checkIn(brno, &pb.CheckInRequest{RequestId: circtest.ReqID(), ItemBarcode: "BRNO-8401"}, true, slavID, slavID, "c's return at BRNO")
	missing := pb.ItemStatus_ITEM_STATUS_MISSING
	up, err := brno.loans.UpdateItem(brno.ctx, &pb.UpdateItemRequest{ItemBarcode: "BRNO-8401", Status: &missing})
	if err != nil || up.GetItem().GetStatus() != missing || up.GetItem().GetTransitToLibraryId() != "" {
		t.Errorf("copy marked missing on its way: %v, %v; want missing, not in transit", up.GetItem(), err)
	}
	if rs := slav.patronReservations(t, b.ID); len(rs) != 1 || rs[0].GetItem() != nil {
		t.Errorf("b's title hold after its copy went missing: %v", rs)
	}

	// A SLAV copy returned at SLAV is captured for b and on the shelf at
	// once; when it goes missing from the shelf, b waits again, not ready.
	slav.copyOf(t, "SLAV-8402", record)
	d := circtest.NewPatron(t, s, "SLAV", "C8005", "Petr", "Bezruč")
	if _, err := slav.checkOut(d.Card, "SLAV-8402"); err != nil {
		t.Fatal(err)
	}
	checkIn(slav, &pb.CheckInRequest{RequestId: circtest.ReqID(), ItemBarcode: "SLAV-8402"}, true, slavID, "", "return at SLAV for SLAV's hold")
	if rs := slav.patronReservations(t, b.ID); len(rs) != 1 || rs[0].GetItem().GetBarcode() != "SLAV-8402" ||
		!rs[0].GetReadyTime().AsTime().Equal(s.Clock.Now()) || !rs[0].GetExpireTime().AsTime().Equal(s.Clock.Now().Add(7*24*time.Hour)) {
		t.Errorf("b's hold after a return at its pickup library: %v; want SLAV-8402 ready now, for 7 days", rs)
	}
	if _, err := slav.loans.UpdateItem(slav.ctx, &pb.UpdateItemRequest{ItemBarcode: "SLAV-8402", Status: &missing}); err != nil {
		t.Fatalf("shelved copy marked missing: %v", err)
	}
	if rs := slav.patronReservations(t, b.ID); len(rs) != 1 || rs[0].GetItem() != nil || rs[0].GetReadyTime() != nil {
		t.Errorf("b's hold after its shelved copy went missing: %v; want waiting, not ready", rs)
	}

	// A copy on a shelf is trapped for the waiting hold by checking it in
	// (it was never lent: no loan to end); one nobody waits for is not.
	kors.copyOf(t, "KORS-8404", record)
	checkIn(kors, &pb.CheckInRequest{RequestId: circtest.ReqID(), ItemBarcode: "KORS-8404"}, true, slavID, slavID, "shelf copy checked in at KORS")
	if rs := slav.patronReservations(t, b.ID); len(rs) != 1 || rs[0].GetItem().GetBarcode() != "KORS-8404" || rs[0].GetReadyTime() != nil {
		t.Errorf("b's hold after KORS trapped its shelf copy: %v; want KORS-8404, travelling", rs)
	}
	kors.copyOf(t, "KORS-8405", record)
	_, err = kors.loans.CheckIn(kors.ctx, &pb.CheckInRequest{RequestId: circtest.ReqID(), ItemBarcode: "KORS-8405"})
	if msg := circtest.Code(t, err, codes.FailedPrecondition); msg != "item is not on loan" {
		t.Errorf("check-in of a shelf copy nobody waits for: %q", msg)
	}
}

// An expired title hold that nobody expired yet is not captured.
func TestTitleHoldPastExpiryNotCaptured(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	brno := staff(t, s, "brno.circ")
	brno.copyOf(t, "BRNO-8301", record)
	a := circtest.NewPatron(t, s, "BRNO", "C7001", "Jan", "Neruda")
	b := circtest.NewPatron(t, s, "BRNO", "C7002", "Jiří", "Wolker")
	if _, err := brno.checkOut(a.Card, "BRNO-8301"); err != nil {
		t.Fatal(err)
	}
	if _, err := brno.loans.PlaceReservation(brno.ctx, &pb.PlaceReservationRequest{RequestId: circtest.ReqID(), CardNumber: b.Card,
		Target:     &pb.PlaceReservationRequest_RecordId{RecordId: record},
		ExpireTime: timestamppb.New(s.Clock.Now().Add(24 * time.Hour))}); err != nil {
		t.Fatal(err)
	}
	s.Clock.Advance(48 * time.Hour)
	brno = staff(t, s, "brno.circ")
	if in := brno.checkIn(t, "BRNO-8301"); in.GetReserved() {
		t.Error("copy captured for a hold past its expiry")
	}
}

// TestTitleHoldBlocksRenewal: a copy of a title cannot be renewed while
// more patrons wait for the title than there are copies on the shelf for
// them (the waiting patron gets this copy when it comes back), as in Koha
// and Evergreen by default; the borrower's own hold does not count, and an
// expired one does not either.
func TestTitleHoldBlocksRenewal(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	brno := staff(t, s, "brno.circ")
	brno.copyOf(t, "BRNO-8201", record)
	brno.copyOf(t, "BRNO-8202", record)
	a := circtest.NewPatron(t, s, "BRNO", "C6001", "Adam", "První")
	b := circtest.NewPatron(t, s, "BRNO", "C6002", "Bára", "Druhá")
	e := circtest.NewPatron(t, s, "BRNO", "C6005", "Emil", "Pátý")
	loan, err := brno.checkOut(a.Card, "BRNO-8201")
	if err != nil {
		t.Fatal(err)
	}
	renew := func() error {
		_, err := brno.loans.RenewLoan(brno.ctx, &pb.RenewLoanRequest{LoanId: loan.GetId(), RequestId: circtest.ReqID()})
		return err
	}
	// b waits for the title, but 8202 is on the shelf for b: a renews.
	hold, err := brno.holdTitle(b.Card, record)
	if err != nil {
		t.Fatal(err)
	}
	if err := renew(); err != nil {
		t.Fatalf("renewal with a free copy on the shelf: %v", err)
	}
	// e borrows the shelf copy: now b can only get a's copy.
	if _, err := brno.checkOut(e.Card, "BRNO-8202"); err != nil {
		t.Fatal(err)
	}
	err = renew()
	if msg := circtest.Code(t, err, codes.FailedPrecondition); !strings.Contains(msg, "waiting for this title") {
		t.Errorf("renewal while b waits and no copy is free: %q", msg)
	}
	// The same over REST for the patron, in the catalogue.
	code, body := s.HTTP(t, "POST", "/v1/me/loans/"+loan.GetId()+":renew", s.PatronLogin(t, a.Card),
		map[string]any{"requestId": circtest.ReqID()})
	if code != 412 || !strings.Contains(fmt.Sprint(body["message"]), "waiting for this title") {
		t.Errorf("OPAC renewal while b waits: %d %v", code, body)
	}
	// Once b's hold has expired unattended, a renews again.
	s.Clock.Set(hold.GetExpireTime().AsTime().Add(time.Minute))
	brno = staff(t, s, "brno.circ") // a new token at the new time
	if err := renew(); err != nil {
		t.Errorf("renewal after the waiting hold expired: %v", err)
	}
}
