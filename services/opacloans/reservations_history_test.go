package opacloans_test

import (
	"context"
	"testing"

	"github.com/patronfed/patronfed/circulation/circtest"
	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
	"github.com/patronfed/patronfed/testserver"
)

// TestDeleteReservationHistory (privacy-rules §2.5: the patron may delete
// their loan AND reservation history at any time): two finished
// reservations are history; the patron deletes one entry, then clears the
// rest; the reservation rows stay for the statistics but no longer name
// the patron.
func TestDeleteReservationHistory(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	p := circtest.NewPatron(t, s, "SLAV", "S7101", "Olga", "Malá")
	slav := testserver.Ctx(s.Login(t, "slav.circ"))
	loans := pb.NewLoanServiceClient(s.Conn)
	tok := s.PatronLogin(t, p.Card)
	me := pb.NewOpacLoanServiceClient(s.Conn)
	for _, item := range []string{"SLAV-0002", "BRNO-0004"} {
		if _, err := loans.PlaceReservation(slav, &pb.PlaceReservationRequest{RequestId: circtest.ReqID(), CardNumber: p.Card, Target: &pb.PlaceReservationRequest_ItemBarcode{ItemBarcode: item}}); err != nil {
			t.Fatalf("reserve %s: %v", item, err)
		}
	}
	mine, err := me.ListMyReservations(testserver.Ctx(tok), &pb.ListMyReservationsRequest{})
	if err != nil || len(mine.GetReservations()) != 2 {
		t.Fatalf("my reservations: %v %v", mine, err)
	}
	for _, r := range mine.GetReservations() {
		if _, err := me.CancelMyReservation(testserver.Ctx(tok), &pb.CancelMyReservationRequest{ReservationId: r.GetId()}); err != nil {
			t.Fatal(err)
		}
	}
	hist, err := me.ListMyHistory(testserver.Ctx(tok), &pb.ListMyHistoryRequest{})
	if err != nil || len(hist.GetEntries()) != 2 {
		t.Fatalf("history after cancelling: %v %v", hist, err)
	}
	linked := func() int {
		var n int
		if err := s.DB.QueryRow(context.Background(), `SELECT count(*) FROM reservations WHERE patron_id = $1`, p.ID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	var total int
	if err := s.DB.QueryRow(context.Background(), `SELECT count(*) FROM reservations`).Scan(&total); err != nil {
		t.Fatal(err)
	}
	// One entry (REST), then the rest (gRPC).
	if code, body := s.HTTP(t, "DELETE", "/v1/me/history/"+hist.GetEntries()[0].GetId(), tok, nil); code != 200 {
		t.Fatalf("delete entry: %d %v", code, body)
	}
	if n := linked(); n != 1 {
		t.Errorf("%d reservations still name the patron after deleting one entry, want 1", n)
	}
	cleared, err := me.ClearMyHistory(testserver.Ctx(tok), &pb.ClearMyHistoryRequest{})
	if err != nil || cleared.GetDeletedCount() != 1 {
		t.Fatalf("clear: %v %v", cleared, err)
	}
	if hist, _ := me.ListMyHistory(testserver.Ctx(tok), &pb.ListMyHistoryRequest{}); len(hist.GetEntries()) != 0 {
		t.Errorf("history after clearing: %v", hist)
	}
	var after int
	if err := s.DB.QueryRow(context.Background(), `SELECT count(*) FROM reservations`).Scan(&after); err != nil {
		t.Fatal(err)
	}
	if n := linked(); n != 0 || after != total {
		t.Errorf("after clearing: %d reservations name the patron (want 0), %d -> %d rows (want unchanged)", n, total, after)
	}
}
