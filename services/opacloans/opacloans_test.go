package opacloans_test

import (
	"context"
	"testing"
	"time"

	"github.com/patronfed/patronfed/circulation/circtest"
	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
	"github.com/patronfed/patronfed/pgtest"
	"github.com/patronfed/patronfed/testserver"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// The patron deletes one history entry, then the rest; their fees stay,
// with amount, kind and dates, detached from the title, for the patron and
// for staff, and still count as debts.
func TestDeleteHistoryKeepsFeesDetached(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	tok := s.PatronLogin(t, "B0001")
	me := pb.NewOpacLoanServiceClient(s.Conn)
	ctx := testserver.Ctx(tok)

	before, err := me.ListMyFees(ctx, &pb.ListMyFeesRequest{})
	if err != nil || len(before.GetFees()) != 2 {
		t.Fatalf("fees before: %v, %v", before, err)
	}
	hist, err := me.ListMyHistory(ctx, &pb.ListMyHistoryRequest{})
	if err != nil || len(hist.GetEntries()) != 2 {
		t.Fatalf("history: %v, %v", hist, err)
	}
	var loansBefore int
	if err := s.DB.QueryRow(context.Background(), `SELECT count(*) FROM loans`).Scan(&loansBefore); err != nil {
		t.Fatal(err)
	}
	// Delete the late return (REST, single entry).
	var late *pb.HistoryEntry
	for _, e := range hist.GetEntries() {
		if e.GetItemBarcode() == "BRNO-0003" {
			late = e
		}
	}
	if code, body := s.HTTP(t, "DELETE", "/v1/me/history/"+late.GetId(), tok, nil); code != 200 {
		t.Fatalf("delete entry: %d %v", code, body)
	}
	if code, _ := s.HTTP(t, "DELETE", "/v1/me/history/"+late.GetId(), tok, nil); code != 404 {
		t.Errorf("delete again: %d, want 404", code)
	}
	hist, _ = me.ListMyHistory(ctx, &pb.ListMyHistoryRequest{})
	if len(hist.GetEntries()) != 1 || hist.GetEntries()[0].GetItemBarcode() != "BRNO-0002" {
		t.Errorf("history after deleting one: %v", hist)
	}
	// Then everything else (REST).
	if code, body := s.HTTP(t, "DELETE", "/v1/me/history", tok, nil); code != 200 || body["deletedCount"] != float64(1) {
		t.Errorf("clear: %d %v", code, body)
	}
	if hist, _ = me.ListMyHistory(ctx, &pb.ListMyHistoryRequest{}); len(hist.GetEntries()) != 0 {
		t.Errorf("history after clearing: %v", hist)
	}

	after, err := me.ListMyFees(ctx, &pb.ListMyFeesRequest{})
	if err != nil || len(after.GetFees()) != 2 {
		t.Fatalf("fees after: %v, %v", after, err)
	}
	for i, f := range after.GetFees() {
		b := before.GetFees()[i]
		if f.GetId() != b.GetId() || f.GetAmount() != b.GetAmount() || f.GetKind() != b.GetKind() ||
			!f.GetChargeTime().AsTime().Equal(b.GetChargeTime().AsTime()) || f.GetPaidAmount() != b.GetPaidAmount() {
			t.Errorf("fee changed: %v -> %v", b, f)
		}
		if f.GetLoanId() != "" || f.GetTitle() != "" || f.GetItemBarcode() != "" {
			t.Errorf("fee still attached to its title: %v", f)
		}
	}
	if len(after.GetDebts().GetUnpaidFees()) != 1 {
		t.Errorf("unpaid overdue fee no longer a debt: %v", after.GetDebts())
	}
	// Nothing in the database still ties the patron to those titles,
	// except the item's last-borrower mark (the SPOK exception).
	var n int
	if err := s.DB.QueryRow(context.Background(), `SELECT count(*) FROM loans l JOIN cards c ON c.patron_id = l.patron_id
		WHERE c.card_number = 'B0001' AND l.returned_at IS NOT NULL`).Scan(&n); err != nil || n != 0 {
		t.Errorf("returned loans left: %d (%v)", n, err)
	}
	// ...while the anonymous loans still count in the statistics (§2.9).
	var loansAfter int
	if err := s.DB.QueryRow(context.Background(), `SELECT count(*) FROM loans`).Scan(&loansAfter); err != nil || loansAfter != loansBefore {
		t.Errorf("loans %d -> %d (%v): deleting history must not change the statistics", loansBefore, loansAfter, err)
	}
	// Staff who see the patron still see the fees.
	st := testserver.Ctx(s.Login(t, "brno.circ"))
	fees, err := pb.NewFeeServiceClient(s.Conn).ListPatronFees(st, &pb.ListPatronFeesRequest{PatronId: circtest.DemoPatronID(t, s, "B0001")})
	if err != nil || len(fees.GetFees()) != 2 {
		t.Errorf("staff fees after deletion: %v, %v", fees, err)
	}
	// Active loans are not history and stay.
	loans, err := me.ListMyLoans(ctx, &pb.ListMyLoansRequest{})
	if err != nil || len(loans.GetLoans()) != 2 || loans.GetLoans()[0].GetPatron() != nil {
		t.Errorf("active loans: %v, %v", loans, err)
	}
}

// The patron's own views: active loans with due dates (overdue flagged),
// reservations they can cancel, and only their own data.
func TestMyLoansAndReservations(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	p := circtest.NewPatron(t, s, "SLAV", "S7001", "Jana", "Veselá")
	slav := testserver.Ctx(s.Login(t, "slav.circ"))
	loans := pb.NewLoanServiceClient(s.Conn)
	if _, err := loans.PlaceReservation(slav, &pb.PlaceReservationRequest{RequestId: circtest.ReqID(), CardNumber: p.Card, Target: &pb.PlaceReservationRequest_ItemBarcode{ItemBarcode: "SLAV-0002"}}); err != nil {
		t.Fatal(err)
	}
	tok := s.PatronLogin(t, p.Card)
	code, body := s.HTTP(t, "GET", "/v1/me/reservations", tok, nil)
	rs, _ := body["reservations"].([]any)
	if code != 200 || len(rs) != 1 {
		t.Fatalf("my reservations: %d %v", code, body)
	}
	id := rs[0].(map[string]any)["id"].(string)
	if code, _ := s.HTTP(t, "POST", "/v1/me/reservations/"+id+":cancel", tok, map[string]any{}); code != 200 {
		t.Errorf("cancel: %d", code)
	}
	// Another patron sees only their own loans.
	other := s.PatronLogin(t, "B0001")
	if code, body := s.HTTP(t, "GET", "/v1/me/loans", other, nil); code != 200 || len(body["loans"].([]any)) != 2 {
		t.Errorf("B0001 loans: %d %v", code, body)
	}
	s.Clock.Set(time.Date(2026, 3, 25, 0, 0, 0, 0, time.UTC))
	other = s.PatronLogin(t, "B0001")
	_, body = s.HTTP(t, "GET", "/v1/me/loans", other, nil)
	overdue := 0
	for _, l := range body["loans"].([]any) {
		if l.(map[string]any)["overdue"] == true {
			overdue++
		}
	}
	if overdue != 2 {
		t.Errorf("overdue loans = %d, want 2: %v", overdue, body)
	}
}
