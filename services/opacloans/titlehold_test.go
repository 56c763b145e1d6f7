package opacloans_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/patronfed/patronfed/circulation/circtest"
	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
	"github.com/patronfed/patronfed/testserver"
)

// The patron holds a title in the catalogue (REST): pickup at the home
// library by default or at a library they share data with, expiry from the
// pickup library's reservation days, a retry answered with the first hold,
// a second hold of the title, a record with no lendable copy and a pickup
// library without consent refused. The list shows the record and, once a
// copy is checked in, the copy captured for the patron; cancelling makes
// it history with the record id.
func TestPlaceMyTitleHold(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	const rec = "CNB000999002" // not a demo record
	p := circtest.NewPatron(t, s, "BRNO", "B7102", "Věra", "Linhartová")
	brno, slav := s.LibraryID(t, "BRNO"), s.LibraryID(t, "SLAV")
	desk := testserver.Ctx(s.Login(t, "slav.circ"))
	loans := pb.NewLoanServiceClient(s.Conn)
	for _, b := range []string{"SLAV-7101", "SLAV-7102"} {
		if _, err := loans.CreateItem(desk, &pb.CreateItemRequest{Barcode: b, Title: "Milena Jesenská: Cesta k jednoduchosti", RecordId: rec}); err != nil {
			t.Fatal(err)
		}
	}
	tok := s.PatronLogin(t, p.Card)
	me := pb.NewOpacLoanServiceClient(s.Conn)
	ctx := testserver.Ctx(tok)

	req := map[string]any{"requestId": circtest.ReqID(), "recordId": rec}
	code, body := s.HTTP(t, "POST", "/v1/me/reservations", tok, req)
	if code != 200 {
		t.Fatalf("title hold: %d %v", code, body)
	}
	first := body["reservation"].(map[string]any)
	if first["recordId"] != rec || first["item"] != nil || first["pickupLibraryId"] != brno || first["patron"] != nil ||
		first["queuePosition"] != float64(1) || first["title"] != "Milena Jesenská: Cesta k jednoduchosti" {
		t.Errorf("title hold %v: want the record, no item, pickup at the home library", first)
	}
	if exp, err := time.Parse(time.RFC3339Nano, first["expireTime"].(string)); err != nil || !exp.Equal(s.Clock.Now().AddDate(0, 0, 14)) {
		t.Errorf("expire time %v (%v), want 14 days", first["expireTime"], err)
	}
	if code, again := s.HTTP(t, "POST", "/v1/me/reservations", tok, req); code != 200 || again["reservation"].(map[string]any)["id"] != first["id"] {
		t.Errorf("retry: %d %v, want the first hold", code, again)
	}
	code, body = s.HTTP(t, "POST", "/v1/me/reservations", tok, map[string]any{"requestId": circtest.ReqID(), "recordId": rec})
	if code == 200 || !strings.Contains(body["message"].(string), "already has an active reservation for this title") {
		t.Errorf("second hold of the title: %d %v", code, body)
	}
	var n int
	if err := s.DB.QueryRow(context.Background(), `SELECT count(*) FROM reservations WHERE patron_id = $1 AND status = 'active'`, p.ID).Scan(&n); err != nil || n != 1 {
		t.Errorf("active reservations = %d (%v), want 1", n, err)
	}

	// Refusals.
	_, err := me.PlaceMyReservation(ctx, &pb.PlaceMyReservationRequest{RequestId: circtest.ReqID(),
		Target: &pb.PlaceMyReservationRequest_RecordId{RecordId: "CNB000000000"}})
	if msg := circtest.Code(t, err, codes.FailedPrecondition); !strings.Contains(msg, "no copy of this title can be lent") {
		t.Errorf("record without copies: %q", msg)
	}
	if _, err := loans.CreateItem(desk, &pb.CreateItemRequest{Barcode: "SLAV-7103", Title: "Jiný titul", RecordId: "CNB-OTHER"}); err != nil {
		t.Fatal(err)
	}
	_, err = me.PlaceMyReservation(ctx, &pb.PlaceMyReservationRequest{RequestId: circtest.ReqID(),
		Target: &pb.PlaceMyReservationRequest_RecordId{RecordId: "CNB-OTHER"}, PickupLibraryId: slav})
	if msg := circtest.Code(t, err, codes.FailedPrecondition); !strings.Contains(msg, "pickup library") {
		t.Errorf("pickup at a library without consent: %q", msg)
	}
	if code, body := s.HTTP(t, "POST", "/v1/me/reservations", tok, map[string]any{"requestId": circtest.ReqID()}); code != 400 {
		t.Errorf("neither item nor record: %d %v", code, body)
	}
	if code, body := s.HTTP(t, "POST", "/v1/me/reservations", tok, map[string]any{"requestId": circtest.ReqID(), "recordId": " CNB1"}); code != 400 {
		t.Errorf("bad record id: %d %v", code, body)
	}

	// With consent, Slavonice can be the pickup library.
	circtest.Consent(t, s, p.ID, "SLAV")
	r, err := me.PlaceMyReservation(ctx, &pb.PlaceMyReservationRequest{RequestId: circtest.ReqID(),
		Target: &pb.PlaceMyReservationRequest_RecordId{RecordId: "CNB-OTHER"}, PickupLibraryId: slav})
	if err != nil || r.GetReservation().GetPickupLibraryId() != slav {
		t.Fatalf("title hold for pickup at SLAV with consent: %v, %v", r, err)
	}

	// A copy comes back at the desk: captured for the patron, listed.
	other := circtest.NewPatron(t, s, "SLAV", "S7103", "Ota", "Pavel")
	if _, err := loans.CheckOut(desk, &pb.CheckOutRequest{RequestId: circtest.ReqID(), CardNumber: other.Card, ItemBarcode: "SLAV-7102"}); err != nil {
		t.Fatal(err)
	}
	in, err := loans.CheckIn(desk, &pb.CheckInRequest{RequestId: circtest.ReqID(), ItemBarcode: "SLAV-7102"})
	if err != nil || !in.GetReserved() {
		t.Fatalf("check-in: %v, %v; want reserved", in, err)
	}
	code, body = s.HTTP(t, "GET", "/v1/me/reservations", tok, nil)
	if code != 200 {
		t.Fatalf("list: %d %v", code, body)
	}
	var captured map[string]any
	for _, x := range body["reservations"].([]any) {
		if x := x.(map[string]any); x["id"] == first["id"] {
			captured = x
		}
	}
	if captured == nil || captured["recordId"] != rec || captured["item"].(map[string]any)["barcode"] != "SLAV-7102" ||
		captured["item"].(map[string]any)["recordId"] != rec {
		t.Errorf("captured hold in the list: %v", body)
	}

	// Cancelled: history with the record id and the copy.
	if _, err := me.CancelMyReservation(ctx, &pb.CancelMyReservationRequest{ReservationId: first["id"].(string)}); err != nil {
		t.Fatal(err)
	}
	h, err := me.ListMyHistory(ctx, &pb.ListMyHistoryRequest{})
	if err != nil || len(h.GetEntries()) != 1 || h.GetEntries()[0].GetRecordId() != rec || h.GetEntries()[0].GetItemBarcode() != "SLAV-7102" ||
		h.GetEntries()[0].GetOutcome() != pb.HistoryOutcome_HISTORY_OUTCOME_CANCELLED {
		t.Errorf("history: %v, %v", h, err)
	}
}
