package policies_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
	"github.com/patronfed/patronfed/testserver"
)

// patronDataServices are the services that return or change patron data.
// The operator administers the federation and reads none of it (privacy
// rules §2 rule 6): every method must answer PERMISSION_DENIED.
var patronDataServices = []protoreflect.FullName{
	"patronfed.v1.PatronService",
	"patronfed.v1.ConsentService",
	"patronfed.v1.LoanService",
	"patronfed.v1.FeeService",
	"patronfed.v1.OpacLoanService",
	// Sign-up sheets hold the names and contacts of the people on them.
	"patronfed.v1.EventSignupService",
}

// TestOperatorDeniedPatronData calls every method of the patron-data
// services as the operator, with a valid request about a patron that
// exists, over real gRPC. A method added later without an entry here fails
// the test, so the rule cannot be forgotten.
func TestOperatorDeniedPatronData(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	f := setup(t, s)
	op := testserver.Ctx(s.Login(t, "operator"))
	pid, rid := f.patron, func() string { return uuid.NewString() }
	loanID := uuid.NewString()
	share := pb.ConsentScope_CONSENT_SCOPE_SHARE_WITH_LIBRARY

	requests := map[string]proto.Message{
		"PatronService/RegisterPatron": &pb.RegisterPatronRequest{CardNumber: "OPER0001",
			Patron: &pb.PatronFields{FirstName: "A", LastName: "B", BirthDate: "1990-01-01", PermanentAddress: "X"}},
		"PatronService/GetPatron": &pb.GetPatronRequest{PatronId: pid},
		"PatronService/UpdatePatron": &pb.UpdatePatronRequest{PatronId: pid, Version: 1,
			Patron: &pb.PatronFields{FirstName: "C"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"first_name"}}},
		"PatronService/ListPatrons":            &pb.ListPatronsRequest{},
		"PatronService/SearchPatrons":          &pb.SearchPatronsRequest{CardNumber: "B0001"},
		"PatronService/IssueCard":              &pb.IssueCardRequest{PatronId: pid, CardNumber: "OPER0002"},
		"PatronService/SetPatronPin":           &pb.SetPatronPinRequest{PatronId: pid, Pin: "4321"},
		"ConsentService/GrantConsent":          &pb.GrantConsentRequest{PatronId: pid, Scope: share, LibraryId: f.kors},
		"ConsentService/WithdrawConsent":       &pb.WithdrawConsentRequest{PatronId: pid, Scope: share, LibraryId: f.slav},
		"ConsentService/ListConsents":          &pb.ListConsentsRequest{PatronId: pid},
		"ConsentService/ListConsentHistory":    &pb.ListConsentHistoryRequest{PatronId: pid},
		"LoanService/CreateItem":               &pb.CreateItemRequest{Barcode: "OPER-1", Title: "T"},
		"LoanService/GetItem":                  &pb.GetItemRequest{ItemBarcode: "OPER-1"},
		"LoanService/UpdateItem":               &pb.UpdateItemRequest{ItemBarcode: "BRNO-0001", Title: proto.String("T")},
		"LoanService/GetLastBorrower":          &pb.GetLastBorrowerRequest{ItemBarcode: "OPER-1"},
		"LoanService/CheckOut":                 &pb.CheckOutRequest{RequestId: rid(), CardNumber: "B0001", ItemBarcode: "OPER-1"},
		"LoanService/RenewLoan":                &pb.RenewLoanRequest{LoanId: loanID, RequestId: rid()},
		"LoanService/CheckIn":                  &pb.CheckInRequest{RequestId: rid(), ItemBarcode: "OPER-1"},
		"LoanService/ListPatronLoans":          &pb.ListPatronLoansRequest{PatronId: pid},
		"LoanService/ListLibraryLoans":         &pb.ListLibraryLoansRequest{LibraryId: f.brno},
		"LoanService/ListTransits":             &pb.ListTransitsRequest{LibraryId: f.brno},
		"LoanService/PlaceReservation":         &pb.PlaceReservationRequest{RequestId: rid(), CardNumber: "B0001", Target: &pb.PlaceReservationRequest_ItemBarcode{ItemBarcode: "OPER-1"}},
		"LoanService/CancelReservation":        &pb.CancelReservationRequest{ReservationId: rid()},
		"LoanService/ExpireReservations":       &pb.ExpireReservationsRequest{},
		"LoanService/ListPatronReservations":   &pb.ListPatronReservationsRequest{PatronId: pid},
		"LoanService/ListHoldShelf":            &pb.ListHoldShelfRequest{LibraryId: f.brno},
		"LoanService/MarkPickupNotified":       &pb.MarkPickupNotifiedRequest{ReservationIds: []string{rid()}},
		"FeeService/ChargeFee":                 &pb.ChargeFeeRequest{RequestId: rid(), ItemBarcode: "OPER-1", Kind: pb.FeeKind(2), Amount: 100},
		"FeeService/RecordPayment":             &pb.RecordPaymentRequest{FeeId: rid(), RequestId: rid(), Amount: 100},
		"FeeService/ListPatronFees":            &pb.ListPatronFeesRequest{PatronId: pid},
		"FeeService/CreateNotice":              &pb.CreateNoticeRequest{PatronId: pid, RequestId: rid(), Kind: pb.NoticeKind(1)},
		"FeeService/ListPatronNotices":         &pb.ListPatronNoticesRequest{PatronId: pid},
		"FeeService/SuspendPatron":             &pb.SuspendPatronRequest{PatronId: pid, Reason: "r"},
		"FeeService/LiftSuspension":            &pb.LiftSuspensionRequest{PatronId: pid},
		"FeeService/GetPatronDebts":            &pb.GetPatronDebtsRequest{PatronId: pid},
		"OpacLoanService/ListMyLoans":          &pb.ListMyLoansRequest{},
		"OpacLoanService/ListMyHistory":        &pb.ListMyHistoryRequest{},
		"OpacLoanService/ClearMyHistory":       &pb.ClearMyHistoryRequest{},
		"OpacLoanService/DeleteMyHistoryEntry": &pb.DeleteMyHistoryEntryRequest{EntryId: loanID},
		"OpacLoanService/ListMyReservations":   &pb.ListMyReservationsRequest{},
		"OpacLoanService/CancelMyReservation":  &pb.CancelMyReservationRequest{ReservationId: rid()},
		"OpacLoanService/RenewMyLoan":          &pb.RenewMyLoanRequest{LoanId: loanID, RequestId: rid()},
		"OpacLoanService/PlaceMyReservation":   &pb.PlaceMyReservationRequest{RequestId: rid(), Target: &pb.PlaceMyReservationRequest_ItemBarcode{ItemBarcode: "BRNO-0004"}},
		"OpacLoanService/ListMyFees":           &pb.ListMyFeesRequest{},
		"EventSignupService/RecordEventSignup": &pb.RecordEventSignupRequest{RequestId: rid(), EventName: "Reading", EventDate: "2026-03-10", Name: "A", Contact: "a@b.c"},
		"EventSignupService/ListEventSignups":  &pb.ListEventSignupsRequest{},
		"EventSignupService/DeleteEventSignup": &pb.DeleteEventSignupRequest{SignupId: rid()},
	}

	seen := 0
	for _, name := range patronDataServices {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		methods := d.(protoreflect.ServiceDescriptor).Methods()
		for i := range methods.Len() {
			m := methods.Get(i)
			key := string(name.Name()) + "/" + string(m.Name())
			req, ok := requests[key]
			if !ok {
				t.Errorf("%s: no request in this test; add one (the operator must be denied)", key)
				continue
			}
			seen++
			out, err := protoregistry.GlobalTypes.FindMessageByName(m.Output().FullName())
			if err != nil {
				t.Fatal(err)
			}
			err = s.Conn.Invoke(op, "/"+string(name)+"/"+string(m.Name()), req, out.New().Interface())
			if status.Code(err) != codes.PermissionDenied {
				t.Errorf("%s as the operator: %v, want PermissionDenied", key, err)
			}
		}
	}
	if seen != len(requests) {
		t.Errorf("%d requests for %d methods: the table names methods that do not exist", len(requests), seen)
	}
	// Nothing was written on the operator's behalf.
	var n int
	if err := s.DB.QueryRow(context.Background(), `SELECT count(*) FROM patrons WHERE first_name IN ('A', 'C')`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("operator wrote patrons: %d, %v", n, err)
	}
}
