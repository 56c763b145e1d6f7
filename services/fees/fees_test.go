package fees_test

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/patronfed/patronfed/circulation/circtest"
	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
	"github.com/patronfed/patronfed/pgtest"
	"github.com/patronfed/patronfed/testserver"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// Damage fee after return by the owning library, payments, a reminder and
// a demand letter with their claims, and the debts they add up to.
func TestFeesPaymentsNoticesDebts(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	ctx := testserver.Ctx(s.Login(t, "brno.circ"))
	loans, fees := pb.NewLoanServiceClient(s.Conn), pb.NewFeeServiceClient(s.Conn)
	p := circtest.NewPatron(t, s, "BRNO", "C5001", "Oldřich", "Starý")
	for _, b := range []string{"BRNO-4001", "BRNO-4002"} {
		if _, err := loans.CreateItem(ctx, &pb.CreateItemRequest{Barcode: b, Title: "Title " + b}); err != nil {
			t.Fatal(err)
		}
		if _, err := loans.CheckOut(ctx, &pb.CheckOutRequest{RequestId: circtest.ReqID(), CardNumber: p.Card, ItemBarcode: b}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := loans.CheckIn(ctx, &pb.CheckInRequest{RequestId: circtest.ReqID(), ItemBarcode: "BRNO-4001"}); err != nil {
		t.Fatal(err)
	}
	// Damage found after the return: charged to the last borrower.
	charge := &pb.ChargeFeeRequest{RequestId: circtest.ReqID(), ItemBarcode: "BRNO-4001", Kind: pb.FeeKind_FEE_KIND_DAMAGE, Amount: 12000}
	fee, err := fees.ChargeFee(ctx, charge)
	if err != nil || fee.GetFee().GetAmount() != 12000 || fee.GetFee().GetCurrency() != "EUR" {
		t.Fatalf("charge: %v, %v", fee, err)
	}
	if again, err := fees.ChargeFee(ctx, charge); err != nil || again.GetFee().GetId() != fee.GetFee().GetId() {
		t.Errorf("charge retry: %v, %v", again, err)
	}
	slav := testserver.Ctx(s.Login(t, "slav.circ"))
	if _, err := fees.ChargeFee(slav, &pb.ChargeFeeRequest{RequestId: circtest.ReqID(), ItemBarcode: "BRNO-4001",
		Kind: pb.FeeKind_FEE_KIND_DAMAGE, Amount: 1}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("charge by an unrelated library: %v", err)
	}

	// Payments: partial, too much, the rest.
	pay := func(amount int64) (*pb.RecordPaymentResponse, error) {
		return fees.RecordPayment(ctx, &pb.RecordPaymentRequest{FeeId: fee.GetFee().GetId(), RequestId: circtest.ReqID(), Amount: amount})
	}
	if r, err := pay(2000); err != nil || r.GetFee().GetPaidAmount() != 2000 || r.GetFee().GetSettleTime() != nil {
		t.Errorf("partial payment: %v, %v", r, err)
	}
	if _, err := pay(10001); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("overpayment: %v", err)
	}
	if _, err := fees.RecordPayment(slav, &pb.RecordPaymentRequest{FeeId: fee.GetFee().GetId(), RequestId: circtest.ReqID(), Amount: 1}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("payment at a library that may not see the patron: %v", err)
	}

	// Overdue: a reminder, later a demand letter, each with its claims.
	s.Clock.Advance(40 * 24 * time.Hour)
	ctx = testserver.Ctx(s.Login(t, "brno.circ"))
	n, err := fees.CreateNotice(ctx, &pb.CreateNoticeRequest{PatronId: p.ID, RequestId: circtest.ReqID(), Kind: pb.NoticeKind_NOTICE_KIND_REMINDER})
	if err != nil {
		t.Fatal(err)
	}
	claims := n.GetNotice().GetClaims()
	if len(claims) != 2 || claims[0].GetKind() != pb.ClaimKind_CLAIM_KIND_ITEM || claims[0].GetItemBarcode() != "BRNO-4002" ||
		claims[1].GetKind() != pb.ClaimKind_CLAIM_KIND_FEE || claims[1].GetAmount() != 10000 {
		t.Errorf("reminder claims = %v", claims)
	}
	if _, err := fees.CreateNotice(ctx, &pb.CreateNoticeRequest{PatronId: p.ID, RequestId: circtest.ReqID(), Kind: pb.NoticeKind_NOTICE_KIND_DEMAND_LETTER}); err != nil {
		t.Fatal(err)
	}
	list, err := fees.ListPatronNotices(ctx, &pb.ListPatronNoticesRequest{PatronId: p.ID})
	if err != nil || len(list.GetNotices()) != 2 {
		t.Errorf("notices: %v, %v", list, err)
	}

	debts, err := fees.GetPatronDebts(ctx, &pb.GetPatronDebtsRequest{PatronId: p.ID})
	if err != nil {
		t.Fatal(err)
	}
	d := debts.GetDebts()
	if len(d.GetUnreturnedItems()) != 1 || len(d.GetUnpaidFees()) != 1 || d.GetUnpaidFees()[0].GetAmount() != 10000 || d.GetSuspended() {
		t.Errorf("debts = %v", d)
	}
	want := []string{"patron has 1 unreturned item", "patron has 1 unpaid fee totalling 100.00 EUR"}
	if strings.Join(d.GetReasons(), "|") != strings.Join(want, "|") {
		t.Errorf("reasons = %q, want %q", d.GetReasons(), want)
	}
	// Another library without consent sees none of it.
	kors := testserver.Ctx(s.Login(t, "kors.circ"))
	if _, err := fees.ListPatronFees(kors, &pb.ListPatronFeesRequest{PatronId: p.ID}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("fees to an unrelated library: %v", err)
	}
	if _, err := fees.GetPatronDebts(kors, &pb.GetPatronDebtsRequest{PatronId: p.ID}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("debts to an unrelated library: %v", err)
	}
	// Only the home library suspends.
	if _, err := fees.SuspendPatron(testserver.Ctx(s.Login(t, "slav.manager")), &pb.SuspendPatronRequest{PatronId: p.ID, Reason: "x"}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("suspension by another library: %v", err)
	}
}
