package libraries_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/patronfed/patronfed/demo"
	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
	"github.com/patronfed/patronfed/pgtest"
	"github.com/patronfed/patronfed/testserver"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestOperatorManagesLibrariesAndPersonalStaffAccounts(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	op := testserver.Ctx(s.Login(t, "operator"))
	libs := pb.NewLibraryServiceClient(s.Conn)

	lib, err := libs.CreateLibrary(op, &pb.CreateLibraryRequest{Code: "OLOM", Name: "Městská knihovna Olomouc", Country: "CZ"})
	if err != nil {
		t.Fatal(err)
	}
	name := "Knihovna města Olomouce"
	up, err := libs.UpdateLibrary(op, &pb.UpdateLibraryRequest{LibraryId: lib.GetLibrary().GetId(), Name: &name})
	if err != nil || up.GetLibrary().GetName() != name || up.GetLibrary().GetCountry() != "CZ" {
		t.Fatalf("update: %v %v", up, err)
	}
	acct, err := libs.CreateStaffAccount(op, &pb.CreateStaffAccountRequest{
		LibraryId: lib.GetLibrary().GetId(), Username: "olom.jana", DisplayName: "Jana",
		Password: "a-long-enough-password", Roles: []pb.Role{pb.Role_ROLE_CIRCULATION},
	})
	if err != nil {
		t.Fatal(err)
	}
	// The new account can log in and has circulation permissions only.
	resp, err := pb.NewAuthServiceClient(s.Conn).Login(context.Background(), &pb.LoginRequest{Username: "olom.jana", Password: "a-long-enough-password"})
	if err != nil {
		t.Fatal(err)
	}
	if p := resp.GetPrincipal().GetPermissions(); slices.Contains(p, "patron.write") || !slices.Contains(p, "loan.manage") {
		t.Fatalf("permissions %v", p)
	}
	// Role changes apply to the token already issued, on the next call.
	if _, err := libs.SetStaffRoles(op, &pb.SetStaffRolesRequest{AccountId: acct.GetAccount().GetId(),
		Roles: []pb.Role{pb.Role_ROLE_REGISTRAR}}); err != nil {
		t.Fatal(err)
	}
	who, err := pb.NewAuthServiceClient(s.Conn).WhoAmI(testserver.Ctx(resp.GetToken()), &pb.WhoAmIRequest{})
	if err != nil || !slices.Contains(who.GetPrincipal().GetPermissions(), "patron.write") || slices.Contains(who.GetPrincipal().GetPermissions(), "loan.manage") {
		t.Fatalf("after role change: %v %v", who, err)
	}
	// Duplicate username: ALREADY_EXISTS, and the account is personal (no reuse).
	_, err = libs.CreateStaffAccount(op, &pb.CreateStaffAccountRequest{
		LibraryId: lib.GetLibrary().GetId(), Username: "olom.jana", DisplayName: "Other Jana",
		Password: "a-long-enough-password", Roles: []pb.Role{pb.Role_ROLE_CIRCULATION},
	})
	if status.Code(err) != codes.AlreadyExists {
		t.Fatalf("duplicate username: %v", err)
	}
	// Unknown library: a clear error naming the field.
	_, err = libs.CreateStaffAccount(op, &pb.CreateStaffAccountRequest{
		LibraryId: "6f1c1f0e-0000-4000-8000-000000000000", Username: "ghost.staff", DisplayName: "G",
		Password: "a-long-enough-password", Roles: []pb.Role{pb.Role_ROLE_CIRCULATION},
	})
	if c := status.Code(err); c != codes.InvalidArgument && c != codes.FailedPrecondition && c != codes.NotFound {
		t.Fatalf("unknown library: %v", err)
	}
	// Roles must be given and known.
	_, err = libs.CreateStaffAccount(op, &pb.CreateStaffAccountRequest{
		LibraryId: lib.GetLibrary().GetId(), Username: "olom.norole", DisplayName: "N", Password: "a-long-enough-password",
	})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("no roles: %v", err)
	}
}

func TestManagersSeeOnlyTheirOwnStaffAndCannotAdminister(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	mgr := testserver.Ctx(s.Login(t, "slav.manager"))
	libs := pb.NewLibraryServiceClient(s.Conn)
	list, err := libs.ListStaffAccounts(mgr, &pb.ListStaffAccountsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	slav := s.LibraryID(t, "SLAV")
	if len(list.GetAccounts()) != 3 {
		t.Fatalf("manager sees %d accounts", len(list.GetAccounts()))
	}
	for _, a := range list.GetAccounts() {
		if a.GetLibraryId() != slav {
			t.Fatalf("manager sees another library's account %s", a.GetUsername())
		}
	}
	if _, err := libs.ListStaffAccounts(mgr, &pb.ListStaffAccountsRequest{LibraryId: s.LibraryID(t, "BRNO")}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("other library's staff: %v", err)
	}
	circ := testserver.Ctx(s.Login(t, "slav.circ"))
	if _, err := libs.ListStaffAccounts(circ, &pb.ListStaffAccountsRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("circulation desk lists staff: %v", err)
	}
	if _, err := libs.DisableStaffAccount(mgr, &pb.DisableStaffAccountRequest{AccountId: list.GetAccounts()[0].GetId()}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("manager disabled an account: %v", err)
	}
	// Any signed-in caller may read the member directory.
	all, err := libs.ListLibraries(circ, &pb.ListLibrariesRequest{})
	if err != nil || len(all.GetLibraries()) != 3 {
		t.Fatalf("libraries: %v %v", all, err)
	}
}

// TestResetStaffPassword: the operator sets a new password for a staff
// member who has forgotten theirs; their open sessions end, the old
// password no longer signs in and the new one does, but serves nothing
// until its owner changes it; the password never reaches the logs. A
// library's manager may not reset it; an unknown account is NOT_FOUND.
func TestResetStaffPassword(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	const temporary = "temporary-reset-2026-q"
	op := testserver.Ctx(s.Login(t, "operator"))
	libs := pb.NewLibraryServiceClient(s.Conn)
	list, err := libs.ListStaffAccounts(op, &pb.ListStaffAccountsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(list.GetAccounts(), func(a *pb.StaffAccount) bool { return a.GetUsername() == "brno.circ" })
	if i < 0 {
		t.Fatal("no brno.circ")
	}
	id := list.GetAccounts()[i].GetId()
	before := s.Login(t, "brno.circ")
	_, err = libs.ResetStaffPassword(testserver.Ctx(s.Login(t, "brno.manager")), &pb.ResetStaffPasswordRequest{AccountId: id, NewPassword: temporary})
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("a manager resets a password: %v", err)
	}
	_, err = libs.ResetStaffPassword(op, &pb.ResetStaffPasswordRequest{AccountId: "00000000-0000-0000-0000-000000000001", NewPassword: temporary})
	if status.Code(err) != codes.NotFound {
		t.Errorf("an unknown account: %v", err)
	}
	if _, err := libs.ResetStaffPassword(op, &pb.ResetStaffPasswordRequest{AccountId: id, NewPassword: temporary}); err != nil {
		t.Fatal(err)
	}
	auth := pb.NewAuthServiceClient(s.Conn)
	if _, err := auth.WhoAmI(testserver.Ctx(before), &pb.WhoAmIRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("a session from before the reset: %v", err)
	}
	if _, err := auth.Login(context.Background(), &pb.LoginRequest{Username: "brno.circ", Password: demo.Password}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("login with the old password: %v", err)
	}
	in, err := auth.Login(context.Background(), &pb.LoginRequest{Username: "brno.circ", Password: temporary})
	if err != nil || !in.GetPrincipal().GetMustChangePassword() {
		t.Fatalf("login with the new password: %v, %v; want a session that must change it", in.GetPrincipal(), err)
	}
	// The operator knows it: nothing but the change (and WhoAmI) is served
	// until brno.circ has changed it, over gRPC and REST.
	reset := testserver.Ctx(in.GetToken())
	if _, err := libs.ListLibraries(reset, &pb.ListLibrariesRequest{}); status.Code(err) != codes.FailedPrecondition ||
		!strings.Contains(status.Convert(err).Message(), "change it first") {
		t.Errorf("a call before the change: %v; want FAILED_PRECONDITION", err)
	}
	if code, body := s.HTTP(t, "GET", "/v1/libraries", in.GetToken(), nil); code != 412 {
		t.Errorf("a REST call before the change: %d %v; want 412 (FAILED_PRECONDITION)", code, body)
	}
	if who, err := auth.WhoAmI(reset, &pb.WhoAmIRequest{}); err != nil || !who.GetPrincipal().GetMustChangePassword() {
		t.Errorf("WhoAmI before the change: %v, %v", who, err)
	}
	changed, err := auth.ChangeMyPassword(reset, &pb.ChangeMyPasswordRequest{CurrentPassword: temporary, NewPassword: "only-brno-circ-knows-this"})
	if err != nil || changed.GetPrincipal().GetMustChangePassword() {
		t.Fatalf("the change: %v, %v", changed.GetPrincipal(), err)
	}
	if _, err := libs.ListLibraries(testserver.Ctx(changed.GetToken()), &pb.ListLibrariesRequest{}); err != nil {
		t.Errorf("a call after the change: %v", err)
	}
	if _, err := libs.ListLibraries(reset, &pb.ListLibrariesRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("the reset session after the change: %v; want signed out", err)
	}
	var stored string
	if err := s.DB.QueryRow(context.Background(), `SELECT password_hash FROM accounts WHERE username = 'brno.circ'`).Scan(&stored); err != nil ||
		!strings.HasPrefix(stored, "$argon2id$") || strings.Contains(stored, "only-brno-circ-knows-this") {
		t.Errorf("the stored password: %q, %v; want an argon2id hash (privacy-rules §1)", stored, err)
	}
	if strings.Contains(s.Logs.String(), temporary) {
		t.Error("the new password reached the logs")
	}
}
