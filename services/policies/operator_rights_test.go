package policies_test

import (
	"context"
	"slices"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
	"github.com/patronfed/patronfed/testserver"
)

// operatorServices are the services the consortium operator uses to
// administer the federation; they return no patron record (statistics are
// aggregates, the audit service ids and field-group names, the staff
// listing staff accounts with their login trail).
var operatorServices = []protoreflect.FullName{
	"patronfed.v1.AuthService",
	"patronfed.v1.LibraryService",
	"patronfed.v1.SettingsService",
	"patronfed.v1.PolicyService",
	"patronfed.v1.AuditService",
	"patronfed.v1.StatisticsService",
}

// morePatronDataServices hold patron data too (extracts, erasures,
// self-registration requests, restoring archived accounts).
var morePatronDataServices = []protoreflect.FullName{
	"patronfed.v1.PatronRightsService",
	"patronfed.v1.RegistrationService",
	"patronfed.v1.RetentionService",
}

// publicMethods need no token and return no patron data.
var publicMethods = []string{"RegistrationService/SubmitRegistration"}

// TestEveryServiceIsClassified: every service of the API is either an
// operator service or a patron-data service the operator is denied
// (TestOperatorDeniedPatronData, TestOperatorDeniedRightsRegistrationRetention).
// A new service fails here until someone decides which it is.
func TestEveryServiceIsClassified(t *testing.T) {
	t.Parallel()
	known := slices.Concat(operatorServices, patronDataServices, morePatronDataServices)
	n := 0
	protoregistry.GlobalFiles.RangeFilesByPackage("patronfed.v1", func(fd protoreflect.FileDescriptor) bool {
		for i := range fd.Services().Len() {
			n++
			if name := fd.Services().Get(i).FullName(); !slices.Contains(known, name) {
				t.Errorf("service %s is not classified: may the operator use it, or does it hold patron data?", name)
			}
		}
		return true
	})
	if n != len(known) {
		t.Errorf("%d services in the API, %d classified: the lists name services that do not exist", n, len(known))
	}
}

// TestOperatorDeniedRightsRegistrationRetention (privacy-rules §2.6): the
// operator gets none of the patron data behind the rights, registration
// and retention services either, with valid requests about rows that
// exist: a patron's access request, a pending self-registration and an
// archived account.
func TestOperatorDeniedRightsRegistrationRetention(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	f := setup(t, s)
	ctx := context.Background()
	me := testserver.Ctx(s.PatronLogin(t, "B0001"))
	access, err := pb.NewPatronRightsServiceClient(s.Conn).CreateRightsRequest(me, &pb.CreateRightsRequestRequest{Kind: pb.RightsRequestKind_RIGHTS_REQUEST_KIND_ACCESS})
	if err != nil {
		t.Fatal(err)
	}
	erasure, err := pb.NewPatronRightsServiceClient(s.Conn).CreateRightsRequest(me, &pb.CreateRightsRequestRequest{Kind: pb.RightsRequestKind_RIGHTS_REQUEST_KIND_ERASURE})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := pb.NewRegistrationServiceClient(s.Conn).SubmitRegistration(ctx, &pb.SubmitRegistrationRequest{
		LibraryCode: "BRNO", FirstName: "Eva", LastName: "Malá", Address: "Lidická 5, Brno"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB.Exec(ctx, `UPDATE patrons SET archived_at = now() WHERE id = $1`, f.patron); err != nil {
		t.Fatal(err)
	}
	op := testserver.Ctx(s.Login(t, "operator"))
	requests := map[string]proto.Message{
		"PatronRightsService/CreateRightsRequest": &pb.CreateRightsRequestRequest{PatronId: f.patron,
			Kind: pb.RightsRequestKind_RIGHTS_REQUEST_KIND_ACCESS},
		"PatronRightsService/ListRightsRequests":       &pb.ListRightsRequestsRequest{},
		"PatronRightsService/DeliverDataExtract":       &pb.DeliverDataExtractRequest{RequestId: access.GetRequest().GetId()},
		"PatronRightsService/ErasePatronData":          &pb.ErasePatronDataRequest{RequestId: erasure.GetRequest().GetId()},
		"PatronRightsService/ListErasureConfirmations": &pb.ListErasureConfirmationsRequest{},
		"RegistrationService/ListRegistrations":        &pb.ListRegistrationsRequest{},
		"RegistrationService/CompleteRegistration": &pb.CompleteRegistrationRequest{RegistrationId: reg.GetRegistrationId(),
			BirthDate: "1990-01-01", CardNumber: "OPER0003"},
		"RegistrationService/RejectRegistration": &pb.RejectRegistrationRequest{RegistrationId: reg.GetRegistrationId()},
		"RetentionService/RestorePatron":         &pb.RestorePatronRequest{PatronId: f.patron},
	}
	seen := 0
	for _, name := range morePatronDataServices {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		methods := d.(protoreflect.ServiceDescriptor).Methods()
		for i := range methods.Len() {
			m := methods.Get(i)
			key := string(name.Name()) + "/" + string(m.Name())
			if slices.Contains(publicMethods, key) {
				continue
			}
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
	// Nothing changed on the operator's behalf.
	var pending, archived, open int
	_ = s.DB.QueryRow(ctx, `SELECT count(*) FROM self_registrations WHERE id = $1 AND status = 'pending'`, reg.GetRegistrationId()).Scan(&pending)
	_ = s.DB.QueryRow(ctx, `SELECT count(*) FROM patrons WHERE id = $1 AND archived_at IS NOT NULL`, f.patron).Scan(&archived)
	_ = s.DB.QueryRow(ctx, `SELECT count(*) FROM rights_requests WHERE id = ANY($1::uuid[]) AND status = 'pending'`,
		[]string{access.GetRequest().GetId(), erasure.GetRequest().GetId()}).Scan(&open)
	if pending != 1 || archived != 1 || open != 2 {
		t.Errorf("after the operator's calls: pending registration %d, archived %d, open requests %d; want 1, 1, 2", pending, archived, open)
	}
}
