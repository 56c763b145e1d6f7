package login_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/patronfed/patronfed/demo"
	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
	"github.com/patronfed/patronfed/testserver"
)

// fieldOf is the field an INVALID_ARGUMENT error names.
func fieldOf(t *testing.T, err error) string {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument {
		t.Fatalf("got %v, want INVALID_ARGUMENT", err)
	}
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) > 0 {
			return br.GetFieldViolations()[0].GetField()
		}
	}
	return ""
}

// whoAmI is the error of a WhoAmI call with token.
func whoAmI(s *testserver.Server, token string) error {
	_, err := pb.NewAuthServiceClient(s.Conn).WhoAmI(testserver.Ctx(token), &pb.WhoAmIRequest{})
	return err
}

// TestChangeMyPassword: a staff member changes their password. A wrong
// current one, a short new one or the same one is refused with the field
// named; the wrong one counts as a failed login. After the change, every
// session opened before ends (also on the REST gateway), the answer's
// token works, and only the new password signs in.
func TestChangeMyPassword(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	first, other := s.Login(t, "brno.circ"), s.Login(t, "brno.circ")
	auth := pb.NewAuthServiceClient(s.Conn)
	change := func(current, next string) (*pb.ChangeMyPasswordResponse, error) {
		return auth.ChangeMyPassword(testserver.Ctx(first), &pb.ChangeMyPasswordRequest{CurrentPassword: current, NewPassword: next})
	}
	const next = "a-much-longer-password-2026"
	_, err := change("not-the-password", next)
	if f := fieldOf(t, err); f != "current_password" {
		t.Errorf("wrong current password: field %q", f)
	}
	var failures int
	key := sha256.Sum256([]byte("account\x00brno.circ"))
	if err := s.DB.QueryRow(context.Background(), `SELECT failures FROM login_throttle WHERE principal_hash = $1`,
		key[:]).Scan(&failures); err != nil || failures != 1 {
		t.Errorf("failed logins of brno.circ after a wrong current password: %d, %v; want 1", failures, err)
	}
	_, err = change(demo.Password, "short")
	if f := fieldOf(t, err); f != "new_password" {
		t.Errorf("short new password: field %q", f)
	}
	_, err = change(demo.Password, demo.Password+"-x")
	if err != nil {
		t.Fatalf("change: %v", err)
	}
	// Changed: the sessions opened before it end.
	for name, tok := range map[string]string{"the changing session": first, "another session": other} {
		err := whoAmI(s, tok)
		if status.Code(err) != codes.Unauthenticated || !strings.Contains(status.Convert(err).Message(), "signed out") {
			t.Errorf("%s after the change: %v; want UNAUTHENTICATED, signed out", name, err)
		}
	}
	// The same again from the new password, over REST: the answer's token
	// works, and the old password no longer signs in.
	s.Clock.Advance(time.Minute)
	again, err := login(s, "brno.circ", demo.Password+"-x")
	if err != nil {
		t.Fatalf("login with the changed password: %v", err)
	}
	code, body := s.HTTP(t, "POST", "/v1/auth/password:change", again.GetToken(),
		map[string]any{"currentPassword": demo.Password + "-x", "newPassword": next})
	newTok, _ := body["token"].(string)
	if code != 200 || newTok == "" {
		t.Fatalf("change over REST: %d %v", code, body)
	}
	if err := whoAmI(s, newTok); err != nil {
		t.Errorf("the new session: %v", err)
	}
	if _, err := login(s, "brno.circ", demo.Password+"-x"); status.Code(err) != codes.Unauthenticated {
		t.Errorf("login with the old password: %v", err)
	}
	if _, err := login(s, "brno.circ", next); err != nil {
		t.Errorf("login with the new password: %v", err)
	}
	for _, secret := range []string{next, demo.Password + "-x"} {
		if strings.Contains(s.Logs.String(), secret) {
			t.Errorf("a new password reached the logs")
		}
	}
	// A patron has no password.
	_, err = auth.ChangeMyPassword(testserver.Ctx(s.PatronLogin(t, "B0001")), &pb.ChangeMyPasswordRequest{CurrentPassword: "1234", NewPassword: next})
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("a patron changing a password: %v", err)
	}
}

// TestChangeMyPin: a patron changes their OPAC PIN in the catalogue (over
// REST). A wrong current PIN is refused with the field named; after the
// change the patron's other sessions end, the new session works, and only
// the new PIN signs in.
func TestChangeMyPin(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	const newPin = "pin-7391x"
	first, other := s.PatronLogin(t, "B0001"), s.PatronLogin(t, "B0001")
	code, body := s.HTTP(t, "POST", "/v1/auth/pin:change", first, map[string]any{"currentPin": "9999", "newPin": newPin})
	if code != 400 || !strings.Contains(fmt.Sprint(body["message"]), "current_pin") {
		t.Errorf("wrong current PIN: %d %v", code, body)
	}
	code, body = s.HTTP(t, "POST", "/v1/auth/pin:change", first, map[string]any{"currentPin": demo.PIN, "newPin": demo.PIN})
	if code != 400 || !strings.Contains(fmt.Sprint(body["message"]), "new_pin") {
		t.Errorf("the same PIN again: %d %v", code, body)
	}
	code, body = s.HTTP(t, "POST", "/v1/auth/pin:change", first, map[string]any{"currentPin": demo.PIN, "newPin": newPin})
	newTok, _ := body["token"].(string)
	if code != 200 || newTok == "" {
		t.Fatalf("change: %d %v", code, body)
	}
	if err := whoAmI(s, other); status.Code(err) != codes.Unauthenticated {
		t.Errorf("another session after the change: %v", err)
	}
	if err := whoAmI(s, newTok); err != nil {
		t.Errorf("the new session: %v", err)
	}
	pl := func(pin string) error {
		_, err := pb.NewAuthServiceClient(s.Conn).PatronLogin(context.Background(), &pb.PatronLoginRequest{CardNumber: "B0001", Pin: pin})
		return err
	}
	if err := pl(demo.PIN); status.Code(err) != codes.Unauthenticated {
		t.Errorf("login with the old PIN: %v", err)
	}
	if err := pl(newPin); err != nil {
		t.Errorf("login with the new PIN: %v", err)
	}
	if strings.Contains(s.Logs.String(), newPin) {
		t.Error("the new PIN reached the logs")
	}
	var stored string
	if err := s.DB.QueryRow(context.Background(), `SELECT p.pin_hash FROM patrons p JOIN cards c ON c.patron_id = p.id
		WHERE c.card_number = 'B0001'`).Scan(&stored); err != nil || !strings.HasPrefix(stored, "$argon2id$") || strings.Contains(stored, newPin) {
		t.Errorf("the stored PIN: %q, %v; want an argon2id hash (privacy-rules §1)", stored, err)
	}
	// Staff have no PIN.
	_, err := pb.NewAuthServiceClient(s.Conn).ChangeMyPin(testserver.Ctx(s.Login(t, "brno.circ")), &pb.ChangeMyPinRequest{CurrentPin: "1234", NewPin: newPin})
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("staff changing a PIN: %v", err)
	}
}

// A token newer than this replica's cached principal (the change was made
// elsewhere and its notification has not arrived: here the triggers are
// off for the update) is checked against the database, not refused.
func TestNewerTokenThanCachedPrincipal(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	old := s.Login(t, "brno.circ")
	if err := whoAmI(s, old); err != nil { // caches the principal
		t.Fatal(err)
	}
	ctx := context.Background()
	conn, err := s.DB.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SET session_replication_role = replica`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `UPDATE accounts SET credentials_version = credentials_version + 1 WHERE username = 'brno.circ'`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `RESET session_replication_role`); err != nil {
		t.Fatal(err)
	}
	fresh := s.Login(t, "brno.circ")
	if err := whoAmI(s, fresh); err != nil {
		t.Errorf("a token newer than the cached principal: %v", err)
	}
	if err := whoAmI(s, old); status.Code(err) != codes.Unauthenticated {
		t.Errorf("the older token: %v; want signed out", err)
	}
}
