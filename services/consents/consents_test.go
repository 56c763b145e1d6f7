package consents_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/patronfed/patronfed/audit"
	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
	"github.com/patronfed/patronfed/testserver"
)

func patronID(t *testing.T, s *testserver.Server, card string) string {
	t.Helper()
	var id string
	if err := s.DB.QueryRow(context.Background(), `SELECT patron_id::text FROM cards WHERE card_number = $1`, card).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

func rest(t *testing.T, s *testserver.Server, token, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.HTTPURL+path, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func fieldOf(err error) string {
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) > 0 {
			return br.GetFieldViolations()[0].GetField()
		}
	}
	return ""
}

// A patron withdraws their consent to SLAV in the catalogue; SLAV's very
// next request is denied, at this replica and at another replica on the
// same database (nothing is cached anywhere). The history shows when, how
// and by whom.
func TestWithdrawalTakesEffectOnTheNextRequestEverywhere(t *testing.T) {
	t.Parallel()
	a := testserver.Start(t)
	b := testserver.Start(t, testserver.WithDatabase(a.DBURL)) // a second replica
	id := patronID(t, a, "B0002")
	slav := a.LibraryID(t, "SLAV")
	slavA := testserver.Ctx(a.Login(t, "slav.reg"))
	slavB := testserver.Ctx(b.Login(t, "slav.reg"))
	get := func(s *testserver.Server, ctx context.Context) error {
		_, err := pb.NewPatronServiceClient(s.Conn).GetPatron(ctx, &pb.GetPatronRequest{PatronId: id})
		return err
	}
	// Warm both replicas up: they have read the patron.
	if err := get(a, slavA); err != nil {
		t.Fatal(err)
	}
	if err := get(b, slavB); err != nil {
		t.Fatal(err)
	}

	me := a.PatronLogin(t, "B0002")
	code, body := rest(t, a, me, "POST", "/v1/me/consents:withdraw", map[string]any{"scope": "CONSENT_SCOPE_SHARE_WITH_LIBRARY", "libraryId": slav})
	if code != 200 || strings.Contains(toJSON(body), slav) {
		t.Fatalf("withdraw: %d %v", code, body)
	}
	if err := get(a, slavA); status.Code(err) != codes.PermissionDenied {
		t.Errorf("replica A after withdrawal: %v", err)
	}
	if err := get(b, slavB); status.Code(err) != codes.PermissionDenied {
		t.Errorf("replica B after withdrawal: %v", err)
	}
	resp, err := pb.NewPatronServiceClient(b.Conn).SearchPatrons(slavB, &pb.SearchPatronsRequest{Name: "svoboda"})
	if err != nil || len(resp.GetPatrons()) != 0 {
		t.Errorf("search after withdrawal: %v %v", resp, err)
	}

	// The patron's view of the consents and the history.
	code, body = rest(t, a, me, "GET", "/v1/me/consents", nil)
	if c, _ := body["consents"].(map[string]any); code != 200 || c["libraries"] != nil || c["optionalData"] != true {
		t.Errorf("consents: %d %v", code, body)
	}
	code, body = rest(t, a, me, "GET", "/v1/me/consents/history", nil)
	evs, _ := body["events"].([]any)
	if code != 200 || len(evs) != 3 {
		t.Fatalf("history: %d %v", code, body)
	}
	newest := evs[0].(map[string]any)
	if newest["change"] != "CONSENT_CHANGE_WITHDRAW" || newest["method"] != "CONSENT_METHOD_WEB" || newest["actorKind"] != "CONSENT_ACTOR_KIND_PATRON" || newest["libraryId"] != slav {
		t.Errorf("withdrawal event %v", newest)
	}
	grant := evs[1].(map[string]any)
	if grant["change"] != "CONSENT_CHANGE_GRANT" || grant["method"] != "CONSENT_METHOD_IN_PERSON" || grant["actorKind"] != "CONSENT_ACTOR_KIND_STAFF" ||
		grant["actorLibraryId"] != a.LibraryID(t, "BRNO") || grant["actorAccountId"] != nil {
		t.Errorf("grant event as the patron sees it: %v", grant)
	}
	// Staff of the home library see the same history, with the account.
	code, body = rest(t, a, a.Login(t, "brno.reg"), "GET", "/v1/patrons/"+id+"/consents/history?pageSize=2", nil)
	evs, _ = body["events"].([]any)
	if code != 200 || len(evs) != 2 || evs[1].(map[string]any)["actorAccountId"] == nil || body["nextPageToken"] == nil {
		t.Errorf("staff history: %d %v", code, body)
	}

	// Consent given again (over gRPC, by the patron): SLAV sees the patron again.
	if _, err := pb.NewConsentServiceClient(b.Conn).GrantConsent(testserver.Ctx(me), &pb.GrantConsentRequest{
		Scope: pb.ConsentScope_CONSENT_SCOPE_SHARE_WITH_LIBRARY, LibraryId: slav}); err != nil {
		t.Fatal(err)
	}
	if err := get(a, slavA); err != nil {
		t.Errorf("after consent given again: %v", err)
	}
	if res, err := audit.Verify(context.Background(), a.DB); err != nil || !res.OK {
		t.Errorf("audit chain across replicas: %+v %v", res, err)
	}
}

// Withdrawing the optional-data consent removes the optional data in the
// same transaction: hidden at once, and gone from the database.
func TestOptionalDataRemovedWithConsent(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	id := patronID(t, s, "B0001")
	reg := s.Login(t, "brno.reg")
	pc := pb.NewPatronServiceClient(s.Conn)
	p, err := pc.GetPatron(testserver.Ctx(reg), &pb.GetPatronRequest{PatronId: id})
	if err != nil || p.GetPatron().GetEmail() == "" {
		t.Fatalf("before: %v %v", p, err)
	}
	// The registrar records the withdrawal at the desk (staff route).
	code, body := rest(t, s, reg, "POST", "/v1/patrons/"+id+"/consents:withdraw", map[string]any{"scope": "CONSENT_SCOPE_OPTIONAL_DATA"})
	if code != 200 {
		t.Fatalf("withdraw: %d %v", code, body)
	}
	var email, phone *string
	var consent bool
	if err := s.DB.QueryRow(context.Background(), `SELECT email, phone, optional_data_consent FROM patrons WHERE id = $1`, id).Scan(&email, &phone, &consent); err != nil {
		t.Fatal(err)
	}
	if email != nil || phone != nil || consent {
		t.Errorf("stored after withdrawal: %v %v %v", email, phone, consent)
	}
	p, err = pc.GetPatron(testserver.Ctx(reg), &pb.GetPatronRequest{PatronId: id})
	if err != nil || p.GetPatron().GetEmail() != "" || p.GetPatron().GetOptionalDataConsent() ||
		slices.Contains(p.GetPatron().GetVisibleFields(), "contact") || p.GetPatron().GetPhone() != "" {
		t.Errorf("after: %v %v", p, err)
	}
	// New contact data is refused until the patron consents again.
	_, err = pc.UpdatePatron(testserver.Ctx(reg), &pb.UpdatePatronRequest{PatronId: id, Version: p.GetPatron().GetVersion(),
		Patron: &pb.PatronFields{Email: "new@example.cz"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"email"}}})
	if status.Code(err) != codes.FailedPrecondition {
		t.Errorf("email without consent: %v", err)
	}
	// Consent again: the old data does not come back.
	cc := pb.NewConsentServiceClient(s.Conn)
	resp, err := cc.GrantConsent(testserver.Ctx(s.PatronLogin(t, "B0001")), &pb.GrantConsentRequest{Scope: pb.ConsentScope_CONSENT_SCOPE_OPTIONAL_DATA})
	if err != nil || !resp.GetConsents().GetOptionalData() {
		t.Fatalf("grant: %v %v", resp, err)
	}
	p, _ = pc.GetPatron(testserver.Ctx(reg), &pb.GetPatronRequest{PatronId: id})
	if p.GetPatron().GetEmail() != "" || !p.GetPatron().GetOptionalDataConsent() {
		t.Errorf("after new consent: %v", p)
	}
}

// Who may record consents: the patron for themselves, staff of the home
// library with consent.write; nobody else. Bad input names the field.
func TestWhoMayChangeConsents(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	cc := pb.NewConsentServiceClient(s.Conn)
	b3 := patronID(t, s, "B0003")
	kors := s.LibraryID(t, "KORS")
	share := func(user, patron, lib string) error {
		tok := ""
		if c, ok := strings.CutPrefix(user, "patron:"); ok {
			tok = s.PatronLogin(t, c)
		} else {
			tok = s.Login(t, user)
		}
		_, err := cc.GrantConsent(testserver.Ctx(tok), &pb.GrantConsentRequest{PatronId: patron,
			Scope: pb.ConsentScope_CONSENT_SCOPE_SHARE_WITH_LIBRARY, LibraryId: lib})
		return err
	}
	for _, tc := range []struct {
		name, user, patron, lib string
		code                    codes.Code
		field                   string
	}{
		{"circulation lacks consent.write", "brno.circ", b3, kors, codes.PermissionDenied, ""},
		{"another library's registrar", "slav.reg", b3, kors, codes.PermissionDenied, ""},
		{"the library asking for consent itself", "kors.manager", b3, kors, codes.PermissionDenied, ""},
		{"operator", "operator", b3, kors, codes.PermissionDenied, ""},
		{"another patron", "patron:B0001", b3, kors, codes.PermissionDenied, ""},
		{"staff must name the patron", "brno.reg", "", kors, codes.InvalidArgument, "patron_id"},
		{"unknown library", "brno.reg", b3, "0b6c4e4e-5d5e-4c1f-9a61-3f1f0c1d2e3f", codes.InvalidArgument, "library_id"},
		{"the home library", "brno.reg", b3, s.LibraryID(t, "BRNO"), codes.InvalidArgument, "library_id"},
		{"unknown patron", "brno.reg", "0b6c4e4e-5d5e-4c1f-9a61-3f1f0c1d2e3f", kors, codes.PermissionDenied, ""},
		{"home registrar", "brno.reg", b3, kors, codes.OK, ""},
		{"the patron", "patron:B0003", "", s.LibraryID(t, "SLAV"), codes.OK, ""},
	} {
		if err := share(tc.user, tc.patron, tc.lib); status.Code(err) != tc.code || fieldOf(err) != tc.field {
			t.Errorf("%s: %v, want %v on %q", tc.name, err, tc.code, tc.field)
		}
	}
	// Validation: library_id only with the share scope.
	if _, err := cc.GrantConsent(testserver.Ctx(s.PatronLogin(t, "B0003")), &pb.GrantConsentRequest{
		Scope: pb.ConsentScope_CONSENT_SCOPE_OPTIONAL_DATA, LibraryId: kors}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("optional data with a library: %v", err)
	}
	// Staff denials are audited; the patron's own changes are in the history.
	var denied, events int
	_ = s.DB.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE action = 'consent.write' AND NOT allowed`).Scan(&denied)
	_ = s.DB.QueryRow(context.Background(), `SELECT count(*) FROM consent_events WHERE patron_id = $1`, b3).Scan(&events)
	if denied < 5 || events != 2 {
		t.Errorf("%d audited denials, %d consent events", denied, events)
	}
	// Consents are service data: other libraries' staff see them only while
	// they see the patron; the operator never.
	for user, want := range map[string]codes.Code{"brno.circ": codes.OK, "kors.circ": codes.OK, "slav.circ": codes.OK, "operator": codes.PermissionDenied} {
		_, err := cc.ListConsents(testserver.Ctx(s.Login(t, user)), &pb.ListConsentsRequest{PatronId: b3})
		if status.Code(err) != want {
			t.Errorf("%s lists consents: %v", user, err)
		}
	}
	_, err := cc.ListConsents(testserver.Ctx(s.Login(t, "kors.circ")), &pb.ListConsentsRequest{PatronId: patronID(t, s, "B0004")})
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("consents of an invisible patron: %v", err)
	}
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
