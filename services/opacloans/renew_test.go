package opacloans_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/patronfed/patronfed/circulation/circtest"
	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
	"github.com/patronfed/patronfed/testserver"
)

// The patron renews their own loan in the catalogue: once per request id
// (a retry answers the same), up to the lending library's limit, not while
// another patron has reserved the item, and never another patron's loan.
func TestRenewMyLoan(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	if _, err := s.DB.Exec(context.Background(), `UPDATE library_settings SET max_renewals = 2`); err != nil {
		t.Fatal(err)
	}
	me := pb.NewOpacLoanServiceClient(s.Conn)
	tok := s.PatronLogin(t, "B0001")
	ctx := testserver.Ctx(tok)
	mine, err := me.ListMyLoans(ctx, &pb.ListMyLoansRequest{})
	if err != nil || len(mine.GetLoans()) < 2 {
		t.Fatalf("B0001's loans: %v, %v", mine, err)
	}
	first, second := mine.GetLoans()[0], mine.GetLoans()[1]
	renewals := func(id string) (n int) {
		t.Helper()
		if err := s.DB.QueryRow(context.Background(), `SELECT renewals FROM loans WHERE id = $1`, id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// Over REST, as the catalogue does; then the same request again.
	req := map[string]any{"requestId": circtest.ReqID()}
	code, body := s.HTTP(t, "POST", "/v1/me/loans/"+first.GetId()+":renew", tok, req)
	if code != 200 {
		t.Fatalf("renew: %d %v", code, body)
	}
	due := body["loan"].(map[string]any)["dueTime"]
	if code, again := s.HTTP(t, "POST", "/v1/me/loans/"+first.GetId()+":renew", tok, req); code != 200 || again["loan"].(map[string]any)["dueTime"] != due {
		t.Errorf("retry: %d %v, want the first answer (due %v)", code, again, due)
	}
	if n := renewals(first.GetId()); n != 1 {
		t.Errorf("renewals after a request and its retry = %d, want 1", n)
	}
	if d, err := time.Parse(time.RFC3339, due.(string)); err != nil || d.Before(first.GetDueTime().AsTime()) || !d.After(s.Clock.Now()) {
		t.Errorf("due after renewal %v (%v), before %v, now %v", due, err, first.GetDueTime().AsTime(), s.Clock.Now())
	}

	// The library's limit (2): the third renewal is refused with the reason.
	if _, err := me.RenewMyLoan(ctx, &pb.RenewMyLoanRequest{LoanId: first.GetId(), RequestId: circtest.ReqID()}); err != nil {
		t.Fatalf("second renewal: %v", err)
	}
	_, err = me.RenewMyLoan(ctx, &pb.RenewMyLoanRequest{LoanId: first.GetId(), RequestId: circtest.ReqID()})
	if msg := circtest.Code(t, err, codes.FailedPrecondition); msg != "loan has reached the lending library's renewal limit" {
		t.Errorf("third renewal: %q", msg)
	}
	if n := renewals(first.GetId()); n != 2 {
		t.Errorf("renewals = %d, want 2", n)
	}

	// Reserved by another patron: refused.
	other := circtest.NewPatron(t, s, "BRNO", "B7001", "Eva", "Malá")
	brno := testserver.Ctx(s.Login(t, "brno.circ"))
	if _, err := pb.NewLoanServiceClient(s.Conn).PlaceReservation(brno, &pb.PlaceReservationRequest{
		RequestId: circtest.ReqID(), CardNumber: other.Card, Target: &pb.PlaceReservationRequest_ItemBarcode{ItemBarcode: second.GetItem().GetBarcode()}}); err != nil {
		t.Fatal(err)
	}
	_, err = me.RenewMyLoan(ctx, &pb.RenewMyLoanRequest{LoanId: second.GetId(), RequestId: circtest.ReqID()})
	if msg := circtest.Code(t, err, codes.FailedPrecondition); msg != "item is reserved for another patron" {
		t.Errorf("renewing a reserved item: %q", msg)
	}

	// Another patron's loan is not found; nothing changes.
	otherTok := testserver.Ctx(s.PatronLogin(t, "B0002"))
	_, err = me.RenewMyLoan(otherTok, &pb.RenewMyLoanRequest{LoanId: second.GetId(), RequestId: circtest.ReqID()})
	circtest.Code(t, err, codes.NotFound)
	if n := renewals(second.GetId()); n != 0 {
		t.Errorf("another patron's attempt renewed the loan: renewals = %d", n)
	}
}
