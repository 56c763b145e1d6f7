package loans_test

import (
	"net/http"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/patronfed/patronfed/circulation/circtest"
	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
	"github.com/patronfed/patronfed/testserver"
)

// TestUpdateItem: the owning library changes an item's title, record and
// status; a copy on loan or waited for by an item hold keeps its status,
// with the reason; a title hold captured for a copy that goes missing goes
// back to its title's queue and the next copy checked in serves it.
func TestUpdateItem(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	brno := staff(t, s, "brno.circ")
	brno.item(t, "BRNO-8301", "Babička")
	a := circtest.NewPatron(t, s, "BRNO", "C7001", "Adam", "První")
	b := circtest.NewPatron(t, s, "BRNO", "C7002", "Bára", "Druhá")
	update := func(d desk, req *pb.UpdateItemRequest) (*pb.Item, error) {
		r, err := d.loans.UpdateItem(d.ctx, req)
		return r.GetItem(), err
	}

	// Title and record; the record can be cleared; fields not set stay.
	it, err := update(brno, &pb.UpdateItemRequest{ItemBarcode: "BRNO-8301", RecordId: proto.String("CNB000777001")})
	if err != nil || it.GetRecordId() != "CNB000777001" || it.GetTitle() != "Babička" || it.GetStatus() != pb.ItemStatus_ITEM_STATUS_AVAILABLE {
		t.Fatalf("set record: %v, %v", it, err)
	}
	it, err = update(brno, &pb.UpdateItemRequest{ItemBarcode: "BRNO-8301", Title: proto.String("Božena Němcová: Babička")})
	if err != nil || it.GetTitle() != "Božena Němcová: Babička" || it.GetRecordId() != "CNB000777001" {
		t.Fatalf("set title: %v, %v", it, err)
	}
	if it, err = update(brno, &pb.UpdateItemRequest{ItemBarcode: "BRNO-8301", RecordId: proto.String("")}); err != nil || it.GetRecordId() != "" {
		t.Fatalf("clear record: %v, %v", it, err)
	}

	// Bad input names the field; another library's staff may not.
	for field, req := range map[string]*pb.UpdateItemRequest{
		"record_id": {ItemBarcode: "BRNO-8301", RecordId: proto.String(" CNB")},
		"status":    {ItemBarcode: "BRNO-8301", Status: pb.ItemStatus_ITEM_STATUS_ON_LOAN.Enum()},
		"title":     {ItemBarcode: "BRNO-8301", Title: proto.String("")},
	} {
		_, err := update(brno, req)
		if circtest.Code(t, err, codes.InvalidArgument); !violates(err, field) {
			t.Errorf("%s: %v", field, err)
		}
	}
	_, err = update(staff(t, s, "slav.circ"), &pb.UpdateItemRequest{ItemBarcode: "BRNO-8301", Title: proto.String("x")})
	circtest.Code(t, err, codes.PermissionDenied)
	_, err = update(brno, &pb.UpdateItemRequest{ItemBarcode: "NOPE-0000", Title: proto.String("x")})
	circtest.Code(t, err, codes.NotFound)

	// On loan: the status stays; an item hold: the same, with the count.
	if _, err := brno.checkOut(a.Card, "BRNO-8301"); err != nil {
		t.Fatal(err)
	}
	_, err = update(brno, &pb.UpdateItemRequest{ItemBarcode: "BRNO-8301", Status: pb.ItemStatus_ITEM_STATUS_WITHDRAWN.Enum()})
	if msg := circtest.Code(t, err, codes.FailedPrecondition); !strings.Contains(msg, "check it in") {
		t.Errorf("withdraw on loan: %q", msg)
	}
	hold, err := brno.holdItem(b.Card, "BRNO-8301")
	if err != nil {
		t.Fatal(err)
	}
	brno.checkIn(t, "BRNO-8301")
	_, err = update(brno, &pb.UpdateItemRequest{ItemBarcode: "BRNO-8301", Status: pb.ItemStatus_ITEM_STATUS_WITHDRAWN.Enum()})
	if msg := circtest.Code(t, err, codes.FailedPrecondition); !strings.Contains(msg, "1 active reservation(s)") {
		t.Errorf("withdraw with an item hold: %q", msg)
	}
	if _, err := brno.loans.CancelReservation(brno.ctx, &pb.CancelReservationRequest{ReservationId: hold.GetId()}); err != nil {
		t.Fatal(err)
	}
	if it, err := update(brno, &pb.UpdateItemRequest{ItemBarcode: "BRNO-8301", Status: pb.ItemStatus_ITEM_STATUS_WITHDRAWN.Enum()}); err != nil ||
		it.GetStatus() != pb.ItemStatus_ITEM_STATUS_WITHDRAWN {
		t.Fatalf("withdraw: %v, %v", it, err)
	}
	if _, err := brno.checkOut(a.Card, "BRNO-8301"); err == nil {
		t.Error("checkout of a withdrawn item")
	}

	// A captured title hold goes back to the queue when its copy goes
	// missing; the next copy checked in serves it.
	const rec = "CNB000777002"
	brno.copyOf(t, "BRNO-8302", rec)
	brno.copyOf(t, "BRNO-8303", rec)
	d := circtest.NewPatron(t, s, "BRNO", "C7004", "Dana", "Čtvrtá")
	for card, barcode := range map[string]string{a.Card: "BRNO-8302", d.Card: "BRNO-8303"} {
		if _, err := brno.checkOut(card, barcode); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := brno.holdTitle(b.Card, rec); err != nil {
		t.Fatal(err)
	}
	if in := brno.checkIn(t, "BRNO-8302"); !in.GetReserved() {
		t.Fatal("copy not captured for the title hold")
	}
	if _, err := update(brno, &pb.UpdateItemRequest{ItemBarcode: "BRNO-8302", Status: pb.ItemStatus_ITEM_STATUS_MISSING.Enum()}); err != nil {
		t.Fatalf("mark the captured copy missing: %v", err)
	}
	if rs := brno.patronReservations(t, b.ID); len(rs) != 1 || rs[0].GetItem() != nil || rs[0].GetQueuePosition() != 1 {
		t.Fatalf("title hold after its copy went missing: %v", rs)
	}
	if in := brno.checkIn(t, "BRNO-8303"); !in.GetReserved() {
		t.Error("next copy not captured")
	}
	if rs := brno.patronReservations(t, b.ID); len(rs) != 1 || rs[0].GetItem().GetBarcode() != "BRNO-8303" {
		t.Errorf("title hold after the next check-in: %v", rs)
	}

	// REST: PATCH, found again (available).
	code, body := s.HTTP(t, http.MethodPatch, "/v1/items/BRNO-8302", s.Login(t, "brno.circ"),
		map[string]any{"status": "ITEM_STATUS_AVAILABLE"})
	if item, _ := body["item"].(map[string]any); code != http.StatusOK || item["status"] != "ITEM_STATUS_AVAILABLE" {
		t.Errorf("REST update: %d %v", code, body)
	}
}

// violates reports whether err carries a field violation of field.
func violates(err error, field string) bool {
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				if v.GetField() == field {
					return true
				}
			}
		}
	}
	return false
}
