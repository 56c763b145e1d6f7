package libraries_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/patronfed/patronfed/demo"
	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
	"github.com/patronfed/patronfed/testserver"
)

// TestOperatorSeesStaffLoginTrails (privacy-rules §2.6: the operator sees
// login trails): after a staff login from an address, the operator's
// staff listing shows that account's last login time and address, over
// gRPC and REST; an account that never logged in shows none.
func TestOperatorSeesStaffLoginTrails(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	s.Clock.Advance(90 * time.Minute)
	ctx := metadata.AppendToOutgoingContext(context.Background(), "x-forwarded-for", "198.51.100.23")
	if _, err := pb.NewAuthServiceClient(s.Conn).Login(ctx, &pb.LoginRequest{Username: "slav.circ", Password: demo.Password}); err != nil {
		t.Fatal(err)
	}
	opToken := s.Login(t, "operator")
	list, err := pb.NewLibraryServiceClient(s.Conn).ListStaffAccounts(testserver.Ctx(opToken), &pb.ListStaffAccountsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]*pb.StaffAccount{}
	for _, a := range list.GetAccounts() {
		seen[a.GetUsername()] = a
	}
	if a := seen["slav.circ"]; a == nil || a.GetLastLoginIp() != "198.51.100.23" || !a.GetLastLoginTime().AsTime().Equal(testserver.Epoch.Add(90*time.Minute)) {
		t.Errorf("slav.circ as the operator sees it: %v", a)
	}
	if a := seen["kors.manager"]; a == nil || a.GetLastLoginTime() != nil || a.GetLastLoginIp() != "" {
		t.Errorf("an account that never logged in: %v", a)
	}
	code, body := s.HTTP(t, http.MethodGet, "/v1/staff", opToken, nil)
	found := false
	for _, a := range body["accounts"].([]any) {
		if m := a.(map[string]any); m["username"] == "slav.circ" {
			found = m["lastLoginIp"] == "198.51.100.23" && m["lastLoginTime"] != nil
		}
	}
	if code != http.StatusOK || !found {
		t.Errorf("REST /v1/staff: %d %v", code, body)
	}
}
