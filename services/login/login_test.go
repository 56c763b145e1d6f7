package login_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/patronfed/patronfed/demo"
	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
	"github.com/patronfed/patronfed/pgtest"
	"github.com/patronfed/patronfed/testserver"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func login(s *testserver.Server, user, pass string) (*pb.LoginResponse, error) {
	return pb.NewAuthServiceClient(s.Conn).Login(context.Background(), &pb.LoginRequest{Username: user, Password: pass})
}

func TestLoginSuccessGivesStaffPrincipal(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	resp, err := login(s, "brno.reg", demo.Password)
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetToken() == "" || !resp.GetExpiresAt().AsTime().Equal(testserver.Epoch.Add(15*time.Minute)) {
		t.Fatalf("token %q expires %v", resp.GetToken(), resp.GetExpiresAt().AsTime())
	}
	who, err := pb.NewAuthServiceClient(s.Conn).WhoAmI(testserver.Ctx(resp.GetToken()), &pb.WhoAmIRequest{})
	if err != nil {
		t.Fatal(err)
	}
	p := who.GetPrincipal()
	if p.GetKind() != pb.PrincipalKind_PRINCIPAL_KIND_STAFF || p.GetLibraryId() != s.LibraryID(t, "BRNO") || p.GetUsername() != "brno.reg" {
		t.Fatalf("principal %v", p)
	}
	if !strings.Contains(strings.Join(p.GetPermissions(), ","), "patron.identifiers") {
		t.Fatalf("registrar lacks patron.identifiers: %v", p.GetPermissions())
	}
}

func TestWrongPasswordAndUnknownUserLookTheSame(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	_, errWrong := login(s, "brno.reg", "not-the-password")
	_, errUnknown := login(s, "nobody.here", "not-the-password")
	for _, err := range []error{errWrong, errUnknown} {
		if status.Code(err) != codes.Unauthenticated {
			t.Fatalf("want UNAUTHENTICATED, got %v", err)
		}
	}
	if status.Convert(errWrong).Message() != status.Convert(errUnknown).Message() {
		t.Fatalf("messages differ: %q vs %q", status.Convert(errWrong).Message(), status.Convert(errUnknown).Message())
	}
	// Over REST too: 401, and the password never reaches the logs.
	code, _ := s.HTTP(t, http.MethodPost, "/v1/auth/login", "", map[string]string{"username": "brno.reg", "password": "not-the-password"})
	if code != http.StatusUnauthorized {
		t.Fatalf("REST wrong password: %d", code)
	}
	if strings.Contains(s.Logs.String(), "not-the-password") || strings.Contains(s.Logs.String(), demo.Password) {
		t.Fatal("a password reached the logs")
	}
}

func TestLockoutAfterRepeatedFailuresThenExpires(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	for i := 0; i < s.Config.LoginMaxFailures; i++ {
		if _, err := login(s, "slav.circ", "wrong-password"); status.Code(err) != codes.Unauthenticated {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	// Locked: even the right password is refused, with a clear message and RetryInfo.
	_, err := login(s, "slav.circ", demo.Password)
	st := status.Convert(err)
	if st.Code() != codes.ResourceExhausted || !strings.Contains(st.Message(), "locked until") {
		t.Fatalf("want lockout, got %v", err)
	}
	var retry *errdetails.RetryInfo
	for _, d := range st.Details() {
		if r, ok := d.(*errdetails.RetryInfo); ok {
			retry = r
		}
	}
	if retry == nil || retry.GetRetryDelay().AsDuration() != 15*time.Minute {
		t.Fatalf("retry info %v", retry)
	}
	code, _ := s.HTTP(t, http.MethodPost, "/v1/auth/login", "", map[string]string{"username": "slav.circ", "password": demo.Password})
	if code != http.StatusTooManyRequests {
		t.Fatalf("REST lockout: %d", code)
	}
	// Other accounts are unaffected.
	if _, err := login(s, "slav.reg", demo.Password); err != nil {
		t.Fatal(err)
	}
	s.Clock.Advance(15*time.Minute + time.Second)
	if _, err := login(s, "slav.circ", demo.Password); err != nil {
		t.Fatalf("after lockout: %v", err)
	}
}

func TestUnknownNamesLockToo(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	for i := 0; i < s.Config.LoginMaxFailures; i++ {
		_, _ = login(s, "ghost.user", "whatever-password")
	}
	if _, err := login(s, "ghost.user", "whatever-password"); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("an unknown name must lock like a real one (no enumeration): %v", err)
	}
}

func TestDisabledAccountLosesAccessAtOnce(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	staff := s.Login(t, "kors.circ")
	op := s.Login(t, "operator")
	auth := pb.NewAuthServiceClient(s.Conn)
	if _, err := auth.WhoAmI(testserver.Ctx(staff), &pb.WhoAmIRequest{}); err != nil {
		t.Fatal(err)
	}
	var id string
	if err := s.DB.QueryRow(context.Background(), `SELECT id::text FROM accounts WHERE username = 'kors.circ'`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if _, err := pb.NewLibraryServiceClient(s.Conn).DisableStaffAccount(testserver.Ctx(op), &pb.DisableStaffAccountRequest{AccountId: id}); err != nil {
		t.Fatal(err)
	}
	// The token issued before is refused on the very next call...
	if _, err := auth.WhoAmI(testserver.Ctx(staff), &pb.WhoAmIRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("disabled account's token still works: %v", err)
	}
	code, _ := s.HTTP(t, http.MethodGet, "/v1/auth/whoami", staff, nil)
	if code != http.StatusUnauthorized {
		t.Fatalf("REST: %d", code)
	}
	// ...and no new one can be had.
	if _, err := login(s, "kors.circ", demo.Password); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("disabled account logged in: %v", err)
	}
}

// A change made elsewhere (another replica, or SQL by an administrator)
// reaches this replica's cached principal through the trigger's
// notification: the account's token stops working within the notification
// delay, not after the cache's TTL.
func TestAccountChangedElsewhereLosesAccess(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	ctx := context.Background()
	auth := pb.NewAuthServiceClient(s.Conn)
	staff := s.Login(t, "kors.circ")
	who, err := auth.WhoAmI(testserver.Ctx(staff), &pb.WhoAmIRequest{}) // now cached
	if err != nil {
		t.Fatal(err)
	}
	if len(who.GetPrincipal().GetRoles()) == 0 {
		t.Fatalf("principal without roles: %v", who)
	}
	if _, err := s.DB.Exec(ctx, `UPDATE accounts SET roles = '{}' WHERE username = 'kors.circ'`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the role change reaches the cached principal", func() bool {
		who, err := auth.WhoAmI(testserver.Ctx(staff), &pb.WhoAmIRequest{})
		return err == nil && len(who.GetPrincipal().GetRoles()) == 0
	})
	if _, err := s.DB.Exec(ctx, `UPDATE accounts SET disabled_at = now() WHERE username = 'kors.circ'`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "disabling reaches the cached principal", func() bool {
		_, err := auth.WhoAmI(testserver.Ctx(staff), &pb.WhoAmIRequest{})
		return status.Code(err) == codes.Unauthenticated
	})

	// A patron archived by the retention job of another process.
	tok := s.PatronLogin(t, "B0001")
	if _, err := auth.WhoAmI(testserver.Ctx(tok), &pb.WhoAmIRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB.Exec(ctx,
		`UPDATE patrons SET archived_at = now() WHERE id = (SELECT patron_id FROM cards WHERE card_number = 'B0001')`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "archiving reaches the cached patron", func() bool {
		_, err := auth.WhoAmI(testserver.Ctx(tok), &pb.WhoAmIRequest{})
		return status.Code(err) == codes.Unauthenticated
	})
}

// waitFor polls cond for up to 5 s: notifications arrive in milliseconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %s", what)
		}
	}
}

func TestTokenExpires(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	tok := s.Login(t, "brno.circ")
	auth := pb.NewAuthServiceClient(s.Conn)
	s.Clock.Advance(14 * time.Minute)
	if _, err := auth.WhoAmI(testserver.Ctx(tok), &pb.WhoAmIRequest{}); err != nil {
		t.Fatalf("before expiry: %v", err)
	}
	s.Clock.Advance(2 * time.Minute)
	if _, err := auth.WhoAmI(testserver.Ctx(tok), &pb.WhoAmIRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("expired token accepted: %v", err)
	}
	if _, err := auth.WhoAmI(testserver.Ctx("garbage.token.value"), &pb.WhoAmIRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("garbage token accepted: %v", err)
	}
	if _, err := auth.WhoAmI(context.Background(), &pb.WhoAmIRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("no token accepted: %v", err)
	}
}

func TestPatronLoginByCardAndPIN(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	auth := pb.NewAuthServiceClient(s.Conn)
	resp, err := auth.PatronLogin(context.Background(), &pb.PatronLoginRequest{CardNumber: "B0001", Pin: demo.PIN})
	if err != nil {
		t.Fatal(err)
	}
	who, err := auth.WhoAmI(testserver.Ctx(resp.GetToken()), &pb.WhoAmIRequest{})
	if err != nil || who.GetPrincipal().GetKind() != pb.PrincipalKind_PRINCIPAL_KIND_PATRON {
		t.Fatalf("patron principal: %v %v", who, err)
	}
	if _, err := auth.PatronLogin(context.Background(), &pb.PatronLoginRequest{CardNumber: "B0001", Pin: "9999"}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("wrong PIN: %v", err)
	}
	if _, err := auth.PatronLogin(context.Background(), &pb.PatronLoginRequest{CardNumber: "NOSUCHCARD", Pin: "9999"}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("unknown card: %v", err)
	}
	// A staff-only call with a patron token is refused.
	if _, err := pb.NewLibraryServiceClient(s.Conn).CreateLibrary(testserver.Ctx(resp.GetToken()),
		&pb.CreateLibraryRequest{Code: "XX", Name: "x", Country: "CZ"}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("patron created a library: %v", err)
	}
}

func TestLoginTrailKeepsOnlyTheLastLogin(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	s.Login(t, "brno.manager")
	s.Clock.Advance(time.Hour)
	s.Login(t, "brno.manager")
	// Over REST, through the gateway: the client address is the HTTP client's.
	code, _ := s.HTTP(t, http.MethodPost, "/v1/auth/login", "", map[string]string{"username": "brno.manager", "password": demo.Password})
	if code != http.StatusOK {
		t.Fatalf("REST login: %d", code)
	}
	var at time.Time
	var ip string
	if err := s.DB.QueryRow(context.Background(),
		`SELECT last_login_at, host(last_login_ip) FROM accounts WHERE username = 'brno.manager'`).Scan(&at, &ip); err != nil {
		t.Fatal(err)
	}
	if !at.Equal(testserver.Epoch.Add(time.Hour)) || ip != "127.0.0.1" {
		t.Fatalf("login trail = %v %q", at, ip)
	}
}

func TestArchivedPatronCannotLogIn(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	tok := s.PatronLogin(t, "B0001")
	if _, err := s.DB.Exec(context.Background(),
		`UPDATE patrons SET archived_at = $1 WHERE id = (SELECT patron_id FROM cards WHERE card_number = 'B0001')`, testserver.Epoch); err != nil {
		t.Fatal(err)
	}
	auth := pb.NewAuthServiceClient(s.Conn)
	if _, err := auth.PatronLogin(context.Background(), &pb.PatronLoginRequest{CardNumber: "B0001", Pin: demo.PIN}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("archived patron logged in: %v", err)
	}
	if _, err := auth.WhoAmI(testserver.Ctx(tok), &pb.WhoAmIRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("archived patron's token still works: %v", err)
	}
}
