package loans_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/patronfed/patronfed/circulation/circtest"
	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
	"github.com/patronfed/patronfed/pgtest"
	"github.com/patronfed/patronfed/testserver"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

type desk struct {
	ctx   context.Context
	loans pb.LoanServiceClient
	fees  pb.FeeServiceClient
}

func staff(t *testing.T, s *testserver.Server, user string) desk {
	return desk{testserver.Ctx(s.Login(t, user)), pb.NewLoanServiceClient(s.Conn), pb.NewFeeServiceClient(s.Conn)}
}

func (d desk) item(t *testing.T, barcode, title string) {
	t.Helper()
	if _, err := d.loans.CreateItem(d.ctx, &pb.CreateItemRequest{Barcode: barcode, Title: title}); err != nil {
		t.Fatalf("create item: %v", err)
	}
}

func (d desk) checkOut(card, barcode string) (*pb.Loan, error) {
	r, err := d.loans.CheckOut(d.ctx, &pb.CheckOutRequest{RequestId: circtest.ReqID(), CardNumber: card, ItemBarcode: barcode})
	return r.GetLoan(), err
}

func (d desk) checkIn(t *testing.T, barcode string) *pb.CheckInResponse {
	t.Helper()
	r, err := d.loans.CheckIn(d.ctx, &pb.CheckInRequest{RequestId: circtest.ReqID(), ItemBarcode: barcode})
	if err != nil {
		t.Fatalf("check in %s: %v", barcode, err)
	}
	return r
}

func (d desk) patronLoans(patronID string) ([]*pb.Loan, error) {
	r, err := d.loans.ListPatronLoans(d.ctx, &pb.ListPatronLoansRequest{PatronId: patronID})
	return r.GetLoans(), err
}

// The whole life of a loan across two libraries: refused without consent
// (and told what the patron can do), lent with consent, visible to the
// lending library through the loan after the consent is withdrawn, renewed,
// returned late at the home library with an overdue fee, and from then on
// history: gone from every staff view, left to the patron and the
// last-borrower query.
func TestLoanLifecycleAcrossLibraries(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	slav, brno, kors := staff(t, s, "slav.circ"), staff(t, s, "brno.circ"), staff(t, s, "kors.circ")
	p := circtest.NewPatron(t, s, "BRNO", "C1001", "Alena", "Nováková")
	slav.item(t, "SLAV-9001", "Karel Čapek: Válka s mloky")

	// No consent: refused, with the reason and the remedy.
	_, err := slav.checkOut(p.Card, "SLAV-9001")
	msg := circtest.Code(t, err, codes.PermissionDenied)
	if !strings.Contains(msg, "can give consent to library "+s.LibraryID(t, "SLAV")) {
		t.Errorf("denial does not say what the patron can do: %q", msg)
	}
	if strings.Contains(msg, p.Name) || strings.Contains(msg, p.Card) {
		t.Errorf("denial carries personal data: %q", msg)
	}
	var info *errdetails.ErrorInfo
	for _, d := range status.Convert(err).Details() {
		if ei, ok := d.(*errdetails.ErrorInfo); ok {
			info = ei
		}
	}
	if info.GetReason() != "CONSENT_REQUIRED" {
		t.Errorf("ErrorInfo = %v, want reason CONSENT_REQUIRED", info)
	}
	if n := circtest.AuditCount(t, s, "slav.circ", "loan.checkout", p.ID, false); n != 1 {
		t.Errorf("denied checkout audit rows = %d, want 1", n)
	}

	// With consent: lent, with what the desk needs.
	circtest.Consent(t, s, p.ID, "SLAV")
	loan, err := slav.checkOut(p.Card, "SLAV-9001")
	if err != nil {
		t.Fatalf("checkout with consent: %v", err)
	}
	if loan.GetPatron().GetName() != p.Name || loan.GetPatron().GetCardNumber() != p.Card || loan.GetPatron().GetAddress() != p.Address {
		t.Errorf("loan patron = %v", loan.GetPatron())
	}
	if got, want := loan.GetDueTime().AsTime(), testserver.Epoch.Add(28*24*time.Hour); !got.Equal(want) {
		t.Errorf("due = %v, want %v", got, want)
	}

	// Consent withdrawn: the lending library still handles its loan.
	circtest.Withdraw(t, s, p.ID, "SLAV")
	loans, err := slav.patronLoans(p.ID)
	if err != nil || len(loans) != 1 || loans[0].GetPatron().GetCardNumber() != p.Card {
		t.Fatalf("lending library's view of the active loan: %v, %v", loans, err)
	}
	if _, err := kors.patronLoans(p.ID); status.Code(err) != codes.PermissionDenied {
		t.Errorf("unrelated library: %v, want PERMISSION_DENIED", err)
	}
	if loans, err := brno.patronLoans(p.ID); err != nil || len(loans) != 1 {
		t.Errorf("home library sees the patron's active loans: %v, %v", loans, err)
	}
	lib, err := slav.loans.ListLibraryLoans(slav.ctx, &pb.ListLibraryLoansRequest{LibraryId: s.LibraryID(t, "SLAV")})
	if err != nil || !hasLoan(lib.GetLoans(), loan.GetId()) {
		t.Errorf("library list: %v, %v", lib, err)
	}
	if _, err := brno.loans.ListLibraryLoans(brno.ctx, &pb.ListLibraryLoansRequest{LibraryId: s.LibraryID(t, "SLAV")}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("another library's list: %v", err)
	}
	if n := circtest.AuditCount(t, s, "slav.circ", "loan.read", p.ID, true); n < 2 {
		t.Errorf("audit rows of staff loan reads = %d, want >= 2", n)
	}

	// Renewal by the lending library only.
	s.Clock.Advance(10 * 24 * time.Hour)
	slav, brno = staff(t, s, "slav.circ"), staff(t, s, "brno.circ") // tokens expired
	renewed, err := slav.loans.RenewLoan(slav.ctx, &pb.RenewLoanRequest{LoanId: loan.GetId(), RequestId: circtest.ReqID()})
	if err != nil || renewed.GetLoan().GetRenewals() != 1 {
		t.Fatalf("renew: %v, %v", renewed, err)
	}
	due := renewed.GetLoan().GetDueTime().AsTime()
	if want := s.Clock.Now().Add(28 * 24 * time.Hour); !due.Equal(want) {
		t.Errorf("renewed due = %v, want %v", due, want)
	}
	if _, err := brno.loans.RenewLoan(brno.ctx, &pb.RenewLoanRequest{LoanId: loan.GetId(), RequestId: circtest.ReqID()}); status.Code(err) != codes.NotFound {
		t.Errorf("renew by another library: %v, want NOT_FOUND", err)
	}

	// Returned three days late at the home library: overdue fee of the
	// lending library's rate.
	s.Clock.Set(due.Add(2*24*time.Hour + time.Hour))
	slav, brno = staff(t, s, "slav.circ"), staff(t, s, "brno.circ")
	in := brno.checkIn(t, "SLAV-9001")
	if in.GetOverdueDays() != 3 || in.GetOverdueFee().GetAmount() != 3*500 || in.GetOverdueFee().GetLibraryId() != s.LibraryID(t, "SLAV") {
		t.Errorf("check-in = %v", in)
	}
	if _, err := brno.loans.CheckIn(brno.ctx, &pb.CheckInRequest{RequestId: circtest.ReqID(), ItemBarcode: "SLAV-9001"}); circtest.Code(t, err, codes.FailedPrecondition) != "item is not on loan" {
		t.Errorf("second check-in: %v", err)
	}

	// History now: the lending library lost the patron with the loan; no
	// staff anywhere sees the returned loan.
	if _, err := slav.patronLoans(p.ID); status.Code(err) != codes.PermissionDenied {
		t.Errorf("lending library after return: %v, want PERMISSION_DENIED", err)
	}
	for _, d := range []desk{brno, staff(t, s, "brno.manager")} {
		if loans, err := d.patronLoans(p.ID); err != nil || len(loans) != 0 {
			t.Errorf("home library after return: %v, %v", loans, err)
		}
	}
	if lib, _ := slav.loans.ListLibraryLoans(slav.ctx, &pb.ListLibraryLoansRequest{LibraryId: s.LibraryID(t, "SLAV")}); hasLoan(lib.GetLoans(), loan.GetId()) {
		t.Errorf("returned loan still in the library list")
	}
	// Staff who see the patron see the fee, but not what it was for.
	fees, err := brno.fees.ListPatronFees(brno.ctx, &pb.ListPatronFeesRequest{PatronId: p.ID})
	if err != nil || len(fees.GetFees()) != 1 || fees.GetFees()[0].GetTitle() != "" || fees.GetFees()[0].GetLoanId() != "" || fees.GetFees()[0].GetAmount() != 1500 {
		t.Errorf("staff fees after return: %v, %v", fees, err)
	}

	// Last borrower: the owning library, the borrower and nothing more.
	lb, err := slav.loans.GetLastBorrower(slav.ctx, &pb.GetLastBorrowerRequest{ItemBarcode: "SLAV-9001"})
	if err != nil {
		t.Fatalf("last borrower: %v", err)
	}
	want := &pb.LoanPatron{PatronId: p.ID, Name: p.Name, CardNumber: p.Card}
	if got := lb.GetLastBorrower(); got.GetPatronId() != want.PatronId || got.GetName() != want.Name || got.GetCardNumber() != want.CardNumber ||
		got.GetAddress() != "" || got.GetEmail() != "" || got.GetPhone() != "" {
		t.Errorf("last borrower = %v, want only %v", got, want)
	}
	if _, err := brno.loans.GetLastBorrower(brno.ctx, &pb.GetLastBorrowerRequest{ItemBarcode: "SLAV-9001"}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("last borrower for a non-owning library: %v", err)
	}
	if n := circtest.AuditCount(t, s, "slav.circ", "loan.last_borrower", p.ID, true); n != 1 {
		t.Errorf("last-borrower audit rows = %d, want 1", n)
	}

	// The patron sees it all, over REST.
	tok := s.PatronLogin(t, p.Card)
	code, hist := s.HTTP(t, "GET", "/v1/me/history", tok, nil)
	entries, _ := hist["entries"].([]any)
	if code != 200 || len(entries) != 1 || entries[0].(map[string]any)["title"] != "Karel Čapek: Válka s mloky" {
		t.Errorf("patron history: %d %v", code, hist)
	}
	code, myFees := s.HTTP(t, "GET", "/v1/me/fees", tok, nil)
	if fs, _ := myFees["fees"].([]any); code != 200 || len(fs) != 1 || fs[0].(map[string]any)["itemBarcode"] != "SLAV-9001" {
		t.Errorf("patron fees: %d %v", code, myFees)
	}
	// Staff cannot read the patron's history route at all.
	if code, _ := s.HTTP(t, "GET", "/v1/me/history", s.Login(t, "brno.manager"), nil); code != 403 {
		t.Errorf("staff GET /v1/me/history = %d, want 403", code)
	}
}

func hasLoan(loans []*pb.Loan, id string) bool {
	for _, l := range loans {
		if l.GetId() == id {
			return true
		}
	}
	return false
}

// The demo patron's returned loans are invisible to staff at every
// library, the home library included, through every staff list.
func TestHistoryInvisibleToAllStaff(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	id := circtest.DemoPatronID(t, s, "B0001")
	history := []string{"BRNO-0002", "BRNO-0003"}
	for _, user := range []string{"brno.circ", "brno.reg", "brno.manager", "slav.circ", "slav.manager", "kors.circ", "kors.manager"} {
		d := staff(t, s, user)
		loans, _ := d.patronLoans(id)
		lib, _ := d.loans.ListLibraryLoans(d.ctx, &pb.ListLibraryLoansRequest{LibraryId: s.LibraryID(t, strings.ToUpper(user[:4]))})
		res, _ := d.loans.ListPatronReservations(d.ctx, &pb.ListPatronReservationsRequest{PatronId: id})
		fees, _ := d.fees.ListPatronFees(d.ctx, &pb.ListPatronFeesRequest{PatronId: id})
		notices, _ := d.fees.ListPatronNotices(d.ctx, &pb.ListPatronNoticesRequest{PatronId: id})
		debts, _ := d.fees.GetPatronDebts(d.ctx, &pb.GetPatronDebtsRequest{PatronId: id})
		all := strings.Join([]string{loans2s(loans), loans2s(lib.GetLoans()), res.String(), fees.String(), notices.String(), debts.String()}, " ")
		for _, b := range history {
			if strings.Contains(all, b) {
				t.Errorf("%s sees returned loan %s", user, b)
			}
		}
		// The REST view of the same lists.
		_, raw := s.HTTPRaw(t, "GET", "/v1/patrons/"+id+"/loans", s.Login(t, user), nil)
		if strings.Contains(string(raw), "BRNO-0002") || strings.Contains(string(raw), "Babička") {
			t.Errorf("%s sees history over REST: %s", user, raw)
		}
	}
	// The home library does see the active ones.
	loans, err := staff(t, s, "brno.circ").patronLoans(id)
	if err != nil || len(loans) != 2 {
		t.Errorf("home library active loans = %v, %v; want 2", loans, err)
	}
	// And the patron sees the history.
	tok := s.PatronLogin(t, "B0001")
	_, raw := s.HTTPRaw(t, "GET", "/v1/me/history", tok, nil)
	for _, b := range history {
		if !strings.Contains(string(raw), b) {
			t.Errorf("patron history lacks %s: %s", b, raw)
		}
	}
}

func loans2s(ls []*pb.Loan) string {
	var sb strings.Builder
	for _, l := range ls {
		sb.WriteString(l.String())
	}
	return sb.String()
}

// Many desks check out one item at once: exactly one wins, the others are
// told why.
func TestConcurrentCheckoutOneWinner(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	brno := staff(t, s, "brno.circ")
	brno.item(t, "BRNO-7777", "Jan Amos Komenský: Labyrint světa")
	const n = 24
	cards := make([]string, n)
	for i := range cards {
		cards[i] = "R" + string(rune('A'+i)) + "0001"
		circtest.NewPatron(t, s, "BRNO", cards[i], "Racer", string(rune('A'+i))+"son")
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, errs[i] = brno.checkOut(cards[i], "BRNO-7777")
		}()
	}
	close(start)
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case status.Code(err) == codes.FailedPrecondition && status.Convert(err).Message() == "item is already on loan":
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d checkouts succeeded, want exactly 1", wins)
	}
	var active int
	if err := s.DB.QueryRow(context.Background(), `SELECT count(*) FROM loans l JOIN items i ON i.id = l.item_id
		WHERE i.barcode = 'BRNO-7777' AND l.returned_at IS NULL`).Scan(&active); err != nil || active != 1 {
		t.Errorf("active loans of the item = %d (%v), want 1", active, err)
	}
}

// A retried checkout returns the first result, over gRPC and over REST,
// and a request id reused for another request is refused.
func TestCheckOutIdempotent(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	brno := staff(t, s, "brno.circ")
	brno.item(t, "BRNO-5001", "Vítězslav Nezval: Edison")
	brno.item(t, "BRNO-5002", "Jiří Wolker: Těžká hodina")
	circtest.NewPatron(t, s, "BRNO", "C2001", "Petr", "Dvořák")

	req := &pb.CheckOutRequest{RequestId: circtest.ReqID(), CardNumber: "C2001", ItemBarcode: "BRNO-5001"}
	first, err := brno.loans.CheckOut(brno.ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	again, err := brno.loans.CheckOut(brno.ctx, req)
	if err != nil || again.GetLoan().GetId() != first.GetLoan().GetId() {
		t.Fatalf("retry = %v, %v; want loan %s", again, err, first.GetLoan().GetId())
	}
	reused := &pb.CheckOutRequest{RequestId: req.RequestId, CardNumber: "C2001", ItemBarcode: "BRNO-5002"}
	if _, err := brno.loans.CheckOut(brno.ctx, reused); status.Code(err) != codes.InvalidArgument {
		t.Errorf("reused request id: %v, want INVALID_ARGUMENT", err)
	}

	tok := s.Login(t, "brno.circ")
	body := map[string]any{"requestId": circtest.ReqID(), "cardNumber": "C2001", "itemBarcode": "BRNO-5002"}
	c1, r1 := s.HTTP(t, "POST", "/v1/loans:checkOut", tok, body)
	c2, r2 := s.HTTP(t, "POST", "/v1/loans:checkOut", tok, body)
	id1, id2 := r1["loan"].(map[string]any)["id"], r2["loan"].(map[string]any)["id"]
	if c1 != 200 || c2 != 200 || id1 != id2 {
		t.Errorf("REST retry: %d %v / %d %v", c1, r1, c2, r2)
	}
	var n int
	_ = s.DB.QueryRow(context.Background(), `SELECT count(*) FROM loans l JOIN cards c ON c.patron_id = l.patron_id WHERE c.card_number = 'C2001'`).Scan(&n)
	if n != 2 {
		t.Errorf("loans = %d, want 2", n)
	}

	// Check-in retried: the same answer, no second fee or error.
	in := &pb.CheckInRequest{RequestId: circtest.ReqID(), ItemBarcode: "BRNO-5001"}
	s.Clock.Advance(30 * 24 * time.Hour)
	brno = staff(t, s, "brno.circ")
	a, err := brno.loans.CheckIn(brno.ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	b, err := brno.loans.CheckIn(brno.ctx, in)
	if err != nil || b.GetOverdueFee().GetId() != a.GetOverdueFee().GetId() || a.GetOverdueFee() == nil {
		t.Errorf("check-in retry = %v, %v; first %v", b, err, a)
	}
}

// Bad input gets the standard codes, with reasons and no personal data.
func TestBadInput(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	brno := staff(t, s, "brno.circ")
	brno.item(t, "BRNO-6001", "Ivan Olbracht: Nikola Šuhaj loupežník")
	p := circtest.NewPatron(t, s, "BRNO", "C3001", "Eva", "Malá")

	if _, err := brno.checkOut("NOSUCH01", "BRNO-6001"); status.Code(err) != codes.NotFound {
		t.Errorf("unknown card: %v", err)
	}
	if _, err := brno.checkOut(p.Card, "NOSUCH-01"); circtest.Code(t, err, codes.NotFound) != "no item with this barcode" {
		t.Errorf("unknown barcode: %v", err)
	}
	if _, err := brno.loans.CheckOut(brno.ctx, &pb.CheckOutRequest{RequestId: "not-a-uuid", CardNumber: p.Card, ItemBarcode: "BRNO-6001"}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("malformed request id: %v", err)
	}
	if _, err := brno.patronLoans("1234"); status.Code(err) != codes.InvalidArgument {
		t.Errorf("malformed patron id: %v", err)
	}
	if _, err := brno.loans.CheckIn(brno.ctx, &pb.CheckInRequest{RequestId: circtest.ReqID(), ItemBarcode: "BRNO-6001"}); circtest.Code(t, err, codes.FailedPrecondition) != "item is not on loan" {
		t.Errorf("check-in of an item not on loan: %v", err)
	}

	// Suspended: blocked with the reason.
	mgr := staff(t, s, "brno.manager")
	if _, err := mgr.fees.SuspendPatron(mgr.ctx, &pb.SuspendPatronRequest{PatronId: p.ID, Reason: "library rule 7: damaged items not replaced"}); err != nil {
		t.Fatal(err)
	}
	_, err := brno.checkOut(p.Card, "BRNO-6001")
	if msg := circtest.Code(t, err, codes.FailedPrecondition); !strings.Contains(msg, "suspended") {
		t.Errorf("suspended: %q", msg)
	}
	if _, err := mgr.fees.LiftSuspension(mgr.ctx, &pb.LiftSuspensionRequest{PatronId: p.ID}); err != nil {
		t.Fatal(err)
	}
	// Over the fee limit (500.00 by default): blocked with the reason.
	if _, err := s.DB.Exec(context.Background(), `INSERT INTO fees (patron_id, library_id, kind, amount, currency, charged_at)
		VALUES ($1, $2, 'damage', 50001, 'EUR', now())`, p.ID, s.LibraryID(t, "BRNO")); err != nil {
		t.Fatal(err)
	}
	_, err = brno.checkOut(p.Card, "BRNO-6001")
	if msg := circtest.Code(t, err, codes.FailedPrecondition); !strings.Contains(msg, "fee limit") {
		t.Errorf("over the fee limit: %q", msg)
	}
}

// Reservations: the queue holds the item for the first patron, checkout
// fulfils it, and finished reservations become the patron's history.
func TestReservations(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	brno := staff(t, s, "brno.circ")
	brno.item(t, "BRNO-8001", "Josef Škvorecký: Zbabělci")
	brno.item(t, "BRNO-8002", "Bohumil Hrabal: Ostře sledované vlaky")
	a := circtest.NewPatron(t, s, "BRNO", "C4001", "Adam", "První")
	b := circtest.NewPatron(t, s, "BRNO", "C4002", "Bára", "Druhá")

	if _, err := brno.checkOut(a.Card, "BRNO-8001"); err != nil {
		t.Fatal(err)
	}
	res, err := brno.loans.PlaceReservation(brno.ctx, &pb.PlaceReservationRequest{RequestId: circtest.ReqID(), CardNumber: b.Card, Target: &pb.PlaceReservationRequest_ItemBarcode{ItemBarcode: "BRNO-8001"}})
	if err != nil || res.GetReservation().GetQueuePosition() != 1 || res.GetReservation().GetPatron().GetName() != b.Name {
		t.Fatalf("place: %v, %v", res, err)
	}
	// The borrower cannot renew past someone waiting.
	loans, _ := brno.patronLoans(a.ID)
	if _, err := brno.loans.RenewLoan(brno.ctx, &pb.RenewLoanRequest{LoanId: loans[0].GetId(), RequestId: circtest.ReqID()}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("renew of a reserved item: %v", err)
	}
	if in := brno.checkIn(t, "BRNO-8001"); !in.GetReserved() {
		t.Errorf("check-in does not say the item is reserved")
	}
	if _, err := brno.checkOut(a.Card, "BRNO-8001"); circtest.Code(t, err, codes.FailedPrecondition) != "item is reserved for another patron" {
		t.Errorf("checkout past the queue: %v", err)
	}
	if _, err := brno.checkOut(b.Card, "BRNO-8001"); err != nil {
		t.Fatalf("checkout by the reserving patron: %v", err)
	}
	if rs, _ := brno.loans.ListPatronReservations(brno.ctx, &pb.ListPatronReservationsRequest{PatronId: b.ID}); len(rs.GetReservations()) != 0 {
		t.Errorf("fulfilled reservation still listed to staff: %v", rs)
	}

	// Cancel and expire: both become history.
	r2, err := brno.loans.PlaceReservation(brno.ctx, &pb.PlaceReservationRequest{RequestId: circtest.ReqID(), CardNumber: a.Card, Target: &pb.PlaceReservationRequest_ItemBarcode{ItemBarcode: "BRNO-8002"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := brno.loans.CancelReservation(brno.ctx, &pb.CancelReservationRequest{ReservationId: r2.GetReservation().GetId()}); err != nil {
		t.Fatal(err)
	}
	if _, err := brno.loans.CancelReservation(brno.ctx, &pb.CancelReservationRequest{ReservationId: r2.GetReservation().GetId()}); status.Code(err) != codes.NotFound {
		t.Errorf("cancel twice: %v", err)
	}
	if _, err := brno.loans.PlaceReservation(brno.ctx, &pb.PlaceReservationRequest{RequestId: circtest.ReqID(), CardNumber: a.Card, Target: &pb.PlaceReservationRequest_ItemBarcode{ItemBarcode: "BRNO-8002"}}); err != nil {
		t.Fatal(err)
	}
	s.Clock.Advance(15 * 24 * time.Hour)
	brno = staff(t, s, "brno.circ")
	if n, err := brno.loans.ExpireReservations(brno.ctx, &pb.ExpireReservationsRequest{}); err != nil || n.GetExpiredCount() != 1 {
		t.Errorf("expire: %v, %v", n, err)
	}
	tok := s.PatronLogin(t, a.Card)
	h, err := pb.NewOpacLoanServiceClient(s.Conn).ListMyHistory(testserver.Ctx(tok), &pb.ListMyHistoryRequest{})
	if err != nil {
		t.Fatal(err)
	}
	outcomes := map[pb.HistoryOutcome]int{}
	for _, e := range h.GetEntries() {
		outcomes[e.GetOutcome()]++
	}
	if outcomes[pb.HistoryOutcome_HISTORY_OUTCOME_RETURNED] != 1 || outcomes[pb.HistoryOutcome_HISTORY_OUTCOME_CANCELLED] != 1 ||
		outcomes[pb.HistoryOutcome_HISTORY_OUTCOME_EXPIRED] != 1 {
		t.Errorf("patron history outcomes = %v", outcomes)
	}
}
