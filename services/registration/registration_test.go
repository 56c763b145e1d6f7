package registration_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
	"github.com/patronfed/patronfed/pgtest"
	"github.com/patronfed/patronfed/retention"
	"github.com/patronfed/patronfed/testserver"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var bg = context.Background()

// submit posts a self-registration through the gateway, without a token,
// as a client at ip.
func submit(t *testing.T, s *testserver.Server, ip string, body map[string]any) (int, map[string]any, http.Header) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", s.HTTPURL+"/v1/registration-requests", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", ip)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out, resp.Header
}

func eva() map[string]any {
	return map[string]any{"libraryCode": "BRNO", "firstName": "Eva", "lastName": "Malá", "address": "Lidická 5, 602 00 Brno",
		"phone": "+420 777 888 999", "email": "eva.mala@example.cz", "username": "eva.mala"}
}

// TestLifeCycle: a request from the catalogue, listed for the chosen
// library's registrars only, completed at the desk into a patron with a
// card who can sign in; another rejected; an unfinished one expires after
// 30 days.
func TestLifeCycle(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	code, out, _ := submit(t, s, "203.0.113.7", eva())
	if code != 200 {
		t.Fatalf("submit: %d %v", code, out)
	}
	regID := out["registrationId"].(string)
	if out["expireTime"] != testserver.Epoch.AddDate(0, 0, 30).Format(time.RFC3339) {
		t.Errorf("expires %v, want in 30 days", out["expireTime"])
	}
	c := pb.NewRegistrationServiceClient(s.Conn)
	reg := testserver.Ctx(s.Login(t, "brno.reg"))
	list, err := c.ListRegistrations(reg, &pb.ListRegistrationsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.GetRegistrations()) != 1 || list.GetRegistrations()[0].GetLastName() != "Malá" || list.GetRegistrations()[0].GetUsername() != "eva.mala" {
		t.Fatalf("BRNO's pending requests %v", list.GetRegistrations())
	}
	slav := testserver.Ctx(s.Login(t, "slav.reg"))
	if l, err := c.ListRegistrations(slav, &pb.ListRegistrationsRequest{}); err != nil || len(l.GetRegistrations()) != 0 {
		t.Errorf("SLAV sees %v %v", l.GetRegistrations(), err)
	}
	if _, err := c.ListRegistrations(testserver.Ctx(s.Login(t, "brno.circ")), &pb.ListRegistrationsRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("circulation desk listing: %v", err)
	}
	if _, err := c.CompleteRegistration(slav, &pb.CompleteRegistrationRequest{RegistrationId: regID, BirthDate: "1990-02-03", CardNumber: "S9001"}); status.Code(err) != codes.NotFound {
		t.Errorf("SLAV completing BRNO's request: %v", err)
	}

	// Completed at the desk: a patron with a card and PIN; the e-mail and
	// phone kept with the consent given there.
	done, err := c.CompleteRegistration(reg, &pb.CompleteRegistrationRequest{
		RegistrationId: regID, BirthDate: "1990-02-03", CardNumber: "B9001", Pin: "4321", OptionalDataConsent: true})
	if err != nil {
		t.Fatal(err)
	}
	var first, last, addr, email, phone, home string
	if err := s.DB.QueryRow(bg, `SELECT first_name, last_name, permanent_address, email, phone, home_library_id::text FROM patrons WHERE id = $1`,
		done.GetPatronId()).Scan(&first, &last, &addr, &email, &phone, &home); err != nil {
		t.Fatal(err)
	}
	if first != "Eva" || last != "Malá" || addr != "Lidická 5, 602 00 Brno" || email != "eva.mala@example.cz" || phone != "+420 777 888 999" || home != s.LibraryID(t, "BRNO") {
		t.Errorf("patron %s %s %s %s %s %s", first, last, addr, email, phone, home)
	}
	login, err := pb.NewAuthServiceClient(s.Conn).PatronLogin(bg, &pb.PatronLoginRequest{CardNumber: "B9001", Pin: "4321"})
	if err != nil || login.GetPrincipal().GetId() != done.GetPatronId() {
		t.Fatalf("the new patron signs in: %v %v", login, err)
	}
	var st string
	var leftover *string
	s.DB.QueryRow(bg, `SELECT status, coalesce(first_name, address, email, phone, username) FROM self_registrations WHERE id = $1`, regID).Scan(&st, &leftover)
	if st != "completed" || leftover != nil {
		t.Errorf("request after completion: %s, personal data %v", st, leftover)
	}
	var consents int
	s.DB.QueryRow(bg, `SELECT count(*) FROM consent_events WHERE patron_id = $1 AND scope = 'optional_data' AND granted`, done.GetPatronId()).Scan(&consents)
	if consents != 1 {
		t.Errorf("%d optional-data consent events, want 1", consents)
	}
	if _, err := c.CompleteRegistration(reg, &pb.CompleteRegistrationRequest{RegistrationId: regID, BirthDate: "1990-02-03", CardNumber: "B9002"}); status.Code(err) != codes.NotFound {
		t.Errorf("completing twice: %v", err)
	}

	// Without consent the optional data is dropped; a minor needs a
	// guardian (the patron package's rule).
	_, out, _ = submit(t, s, "203.0.113.8", map[string]any{"libraryCode": "BRNO", "firstName": "Ota", "lastName": "Malý", "address": "Lidická 5",
		"email": "ota@example.cz"})
	otaID := out["registrationId"].(string)
	_, err = c.CompleteRegistration(reg, &pb.CompleteRegistrationRequest{RegistrationId: otaID, BirthDate: "2020-01-01", CardNumber: "B9003"})
	if status.Code(err) != codes.FailedPrecondition {
		t.Errorf("a minor without a guardian: %v", err)
	}
	ota, err := c.CompleteRegistration(reg, &pb.CompleteRegistrationRequest{RegistrationId: otaID, BirthDate: "2020-01-01", CardNumber: "B9003",
		Guardian: &pb.Guardian{Name: "Eva Malá"}})
	if err != nil {
		t.Fatal(err)
	}
	var otaEmail *string
	s.DB.QueryRow(bg, `SELECT email FROM patrons WHERE id = $1`, ota.GetPatronId()).Scan(&otaEmail)
	if otaEmail != nil {
		t.Error("e-mail kept without consent")
	}

	// Rejected: gone at once.
	_, out, _ = submit(t, s, "203.0.113.9", eva())
	rejID := out["registrationId"].(string)
	if _, err := c.RejectRegistration(reg, &pb.RejectRegistrationRequest{RegistrationId: rejID}); err != nil {
		t.Fatal(err)
	}
	var n int
	s.DB.QueryRow(bg, `SELECT count(*) FROM self_registrations WHERE id = $1`, rejID).Scan(&n)
	if n != 0 {
		t.Error("rejected request kept")
	}

	// Unfinished: deleted by retention after 30 days, not before.
	_, out, _ = submit(t, s, "203.0.113.10", eva())
	pendingID := out["registrationId"].(string)
	eng := retention.New(s.App.Pool, s.Clock, nil)
	for _, tc := range []struct {
		after time.Duration
		left  int
	}{{30*24*time.Hour - time.Minute, 1}, {2 * time.Minute, 0}} {
		s.Clock.Advance(tc.after)
		if _, err := eng.Run(bg, retention.Options{LibraryCode: "BRNO"}); err != nil {
			t.Fatal(err)
		}
		s.DB.QueryRow(bg, `SELECT count(*) FROM self_registrations WHERE id = $1`, pendingID).Scan(&n)
		if n != tc.left {
			t.Errorf("%s after the request: %d left, want %d", s.Clock.Now().Sub(testserver.Epoch), n, tc.left)
		}
	}
	s.DB.QueryRow(bg, `SELECT count(*) FROM self_registrations WHERE status = 'completed'`).Scan(&n)
	if n != 2 {
		t.Errorf("completed requests: %d, want 2 (retention deletes only unfinished ones)", n)
	}
}

// TestValidationAndRateLimit: the public endpoint validates its input and
// allows 5 requests an hour per client address (HTTP 429 with RetryInfo
// after that), other addresses unaffected.
func TestValidationAndRateLimit(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	bad := eva()
	delete(bad, "address")
	if code, out, _ := submit(t, s, "198.51.100.1", bad); code != http.StatusBadRequest {
		t.Errorf("without an address: %d %v", code, out)
	}
	bad = eva()
	bad["email"] = "not-an-email"
	if code, _, _ := submit(t, s, "198.51.100.1", bad); code != http.StatusBadRequest {
		t.Errorf("bad e-mail: %d", code)
	}
	bad = eva()
	bad["libraryCode"] = "NOPE"
	if code, out, _ := submit(t, s, "198.51.100.1", bad); code != http.StatusBadRequest || !strings.Contains(out["message"].(string), "library_code") {
		t.Errorf("unknown library: %d %v", code, out)
	}
	for i := range 5 {
		if code, out, _ := submit(t, s, "198.51.100.2", eva()); code != 200 {
			t.Fatalf("request %d: %d %v", i+1, code, out)
		}
	}
	code, out, _ := submit(t, s, "198.51.100.2", eva())
	if code != http.StatusTooManyRequests {
		t.Fatalf("6th request in an hour: %d %v, want 429", code, out)
	}
	if !strings.Contains(out["message"].(string), "retry in 12m") {
		t.Errorf("429 message %v", out["message"])
	}
	if code, _, _ := submit(t, s, "198.51.100.3", eva()); code != 200 {
		t.Errorf("another address: %d", code)
	}
	// gRPC: RESOURCE_EXHAUSTED with RetryInfo.
	ctx := metadata.AppendToOutgoingContext(bg, "x-forwarded-for", "198.51.100.2")
	_, err := pb.NewRegistrationServiceClient(s.Conn).SubmitRegistration(ctx, &pb.SubmitRegistrationRequest{
		LibraryCode: "BRNO", FirstName: "A", LastName: "B", Address: "C"})
	var retry *errdetails.RetryInfo
	for _, d := range status.Convert(err).Details() {
		if r, ok := d.(*errdetails.RetryInfo); ok {
			retry = r
		}
	}
	if status.Code(err) != codes.ResourceExhausted || retry == nil || retry.GetRetryDelay().AsDuration() != 12*time.Minute {
		t.Errorf("gRPC: %v, retry %v", err, retry)
	}
	s.Clock.Advance(12 * time.Minute)
	if code, _, _ := submit(t, s, "198.51.100.2", eva()); code != 200 {
		t.Errorf("after the wait: %d", code)
	}
	if strings.Contains(s.Logs.String(), "Malá") {
		t.Error("personal data in the server log")
	}
}
