package patrons_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/patronfed/patronfed/demo"
	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
	"github.com/patronfed/patronfed/pii"
	"github.com/patronfed/patronfed/testserver"
)

func adult() *pb.PatronFields {
	return &pb.PatronFields{FirstName: "Karel", LastName: "Veselý", BirthDate: "1990-02-14", PermanentAddress: "Lidická 1, Brno"}
}

func TestRegisterAndValidation(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := e.ctx(t, "brno.reg")

	// A registration with every item of privacy-rules §1 the registrar may write.
	full := adult()
	full.ContactAddress, full.Email, full.Phone, full.AcademicTitles = "P.O. Box 9, Brno", "karel@example.cz", "+420 777 000 111", "Mgr."
	full.Category, full.MotherTongue, full.IdDocumentNumber = "student", "cs", "209876543"
	full.NationalIds = []*pb.NationalId{{Kind: pb.NationalIdKind_NATIONAL_ID_KIND_SSN, Value: "123-45-6789"}}
	resp, err := e.c.RegisterPatron(ctx, &pb.RegisterPatronRequest{Patron: full, CardNumber: "b0777", Pin: "4321", OptionalDataConsent: true})
	if err != nil {
		t.Fatal(err)
	}
	p := resp.GetPatron()
	if p.GetActiveCardNumber() != "B0777" || p.GetEmail() != "karel@example.cz" || p.GetIdDocumentNumber() != "209876543" ||
		len(p.GetNationalIds()) != 1 || p.GetNationalIds()[0].GetValue() != "123-45-6789" || p.GetHomeLibraryId() != e.s.LibraryID(t, "BRNO") ||
		p.GetVersion() != 1 || !p.GetOptionalDataConsent() || p.GetRegisterTime() == nil {
		t.Errorf("registered %v", p)
	}
	// The consent given at registration is in the history.
	var events int
	_ = e.s.DB.QueryRow(context.Background(), `SELECT count(*) FROM consent_events WHERE patron_id = $1 AND scope = 'optional_data' AND granted AND method = 'in_person'`, p.GetId()).Scan(&events)
	if events != 1 {
		t.Errorf("%d consent events", events)
	}
	// The new patron can sign in to the catalogue with the PIN.
	if _, err := pb.NewAuthServiceClient(e.s.Conn).PatronLogin(context.Background(), &pb.PatronLoginRequest{CardNumber: "B0777", Pin: "4321"}); err != nil {
		t.Errorf("patron login: %v", err)
	}

	withBirth := func(d string) *pb.PatronFields { f := adult(); f.BirthDate = d; return f }
	noName := adult()
	noName.LastName = ""
	emailOnly := adult()
	emailOnly.Email = "x@example.cz"
	special := adult()
	special.SpecialCategories = []pb.SpecialCategory{pb.SpecialCategory_SPECIAL_CATEGORY_ACCESSIBLE_MEDIA}
	dupID := adult()
	dupID.NationalIds = []*pb.NationalId{{Kind: pb.NationalIdKind_NATIONAL_ID_KIND_SSN, Value: "123 45 6789"}}
	for _, tc := range []struct {
		name  string
		user  string
		req   *pb.RegisterPatronRequest
		code  codes.Code
		field string
	}{
		{"unknown library", "brno.reg", &pb.RegisterPatronRequest{Patron: adult(), CardNumber: "B0800", HomeLibraryId: unknownPatron}, codes.InvalidArgument, "home_library_id"},
		{"another library", "brno.reg", &pb.RegisterPatronRequest{Patron: adult(), CardNumber: "B0800", HomeLibraryId: e.s.LibraryID(t, "SLAV")}, codes.PermissionDenied, ""},
		{"malformed date", "brno.reg", &pb.RegisterPatronRequest{Patron: withBirth("14.02.1990"), CardNumber: "B0800"}, codes.InvalidArgument, "patron.birth_date"},
		{"impossible date", "brno.reg", &pb.RegisterPatronRequest{Patron: withBirth("1990-02-30"), CardNumber: "B0800"}, codes.InvalidArgument, "patron.birth_date"},
		{"future date", "brno.reg", &pb.RegisterPatronRequest{Patron: withBirth("2030-01-01"), CardNumber: "B0800"}, codes.InvalidArgument, "patron.birth_date"},
		{"missing name", "brno.reg", &pb.RegisterPatronRequest{Patron: noName, CardNumber: "B0800"}, codes.InvalidArgument, "patron.last_name"},
		{"duplicate card", "brno.reg", &pb.RegisterPatronRequest{Patron: adult(), CardNumber: "b0001"}, codes.AlreadyExists, "card_number"},
		{"duplicate national id", "brno.reg", &pb.RegisterPatronRequest{Patron: dupID, CardNumber: "B0800"}, codes.AlreadyExists, "patron.national_ids"},
		{"minor without guardian (BRNO: under 15)", "brno.reg", &pb.RegisterPatronRequest{Patron: withBirth("2012-01-01"), CardNumber: "B0800"}, codes.FailedPrecondition, "patron.guardian"},
		{"16 is a minor at KORS (under 18)", "kors.reg", &pb.RegisterPatronRequest{Patron: withBirth("2010-01-01"), CardNumber: "K0800"}, codes.FailedPrecondition, "patron.guardian"},
		{"contact data without consent", "brno.reg", &pb.RegisterPatronRequest{Patron: emailOnly, CardNumber: "B0800"}, codes.FailedPrecondition, "patron.email"},
		{"special category without its permission", "brno.reg", &pb.RegisterPatronRequest{Patron: special, CardNumber: "B0800"}, codes.PermissionDenied, ""},
		{"circulation may not register", "brno.circ", &pb.RegisterPatronRequest{Patron: adult(), CardNumber: "B0800"}, codes.PermissionDenied, ""},
		{"operator may not register", "operator", &pb.RegisterPatronRequest{Patron: adult(), CardNumber: "B0800"}, codes.PermissionDenied, ""},
	} {
		_, err := e.c.RegisterPatron(e.ctx(t, tc.user), tc.req)
		if status.Code(err) != tc.code || fieldOf(err) != tc.field {
			t.Errorf("%s: %v (field %q), want %v on %q", tc.name, err, fieldOf(err), tc.code, tc.field)
		}
		if strings.Contains(status.Convert(err).Message(), "6789") || strings.Contains(status.Convert(err).Message(), "Veselý") {
			t.Errorf("%s: personal data in %q", tc.name, status.Convert(err).Message())
		}
	}
	// A 16-year-old is an adult at BRNO; at KORS with a guardian.
	if _, err := e.c.RegisterPatron(ctx, &pb.RegisterPatronRequest{Patron: withBirth("2010-01-01"), CardNumber: "B0801"}); err != nil {
		t.Errorf("16 at BRNO: %v", err)
	}
	minor := withBirth("2010-01-01")
	minor.Guardian = &pb.Guardian{Name: "Astrid Berg", Phone: "+358 40 123 4567"}
	if _, err := e.c.RegisterPatron(e.ctx(t, "kors.reg"), &pb.RegisterPatronRequest{Patron: minor, CardNumber: "K0801"}); err != nil {
		t.Errorf("16 at KORS with guardian: %v", err)
	}
	// The special-category role may record accessible-media registration.
	if resp, err := e.c.RegisterPatron(e.ctx(t, "brno.manager"), &pb.RegisterPatronRequest{Patron: special, CardNumber: "B0802"}); err != nil ||
		len(resp.GetPatron().GetSpecialCategories()) != 1 {
		t.Errorf("manager with special_category: %v", err)
	}
	// REST: the same rules, the field in the error body.
	code, body, _ := e.rest(t, "brno.reg", "POST", "/v1/patrons", map[string]any{
		"patron": map[string]any{"firstName": "A", "lastName": "B", "birthDate": "2001-13-01", "permanentAddress": "C"}, "cardNumber": "B0803"})
	if code != 400 || !strings.Contains(toJSON(body), "patron.birth_date") {
		t.Errorf("REST malformed date: %d %v", code, body)
	}
	code, body, _ = e.rest(t, "brno.reg", "POST", "/v1/patrons", map[string]any{
		"patron": map[string]any{"firstName": "A", "lastName": "B", "birthDate": "2001-12-01", "permanentAddress": "C"}, "cardNumber": "B0001"})
	if code != 409 || !strings.Contains(toJSON(body), "card_number") {
		t.Errorf("REST duplicate card: %d %v", code, body)
	}
}

// Concurrent updates never lose a write: of several updates based on the
// same version exactly one wins; the others get FAILED_PRECONDITION and
// must read again.
func TestConcurrentUpdatesDoNotLoseWrites(t *testing.T) {
	t.Parallel()
	e := start(t)
	id := e.id(t, "B0003")
	get := func() *pb.Patron {
		resp, err := e.c.GetPatron(e.ctx(t, "brno.reg"), &pb.GetPatronRequest{PatronId: id})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetPatron()
	}
	v := get().GetVersion()
	const n = 8
	var wg sync.WaitGroup
	codesSeen := make(chan codes.Code, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.c.UpdatePatron(e.ctx(t, "brno.reg"), &pb.UpdatePatronRequest{PatronId: id, Version: v,
				Patron: &pb.PatronFields{ContactAddress: "Box " + string(rune('A'+i))}, UpdateMask: mask("contact_address")})
			codesSeen <- status.Code(err)
		}()
	}
	wg.Wait()
	close(codesSeen)
	won := 0
	for c := range codesSeen {
		switch c {
		case codes.OK:
			won++
		case codes.FailedPrecondition:
		default:
			t.Errorf("unexpected %v", c)
		}
	}
	if p := get(); won != 1 || p.GetVersion() != v+1 {
		t.Errorf("%d updates won, version %d -> %d", won, v, p.GetVersion())
	}
	// Read-modify-write loops that retry on FAILED_PRECONDITION all land.
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				p := get()
				_, err := e.c.UpdatePatron(e.ctx(t, "brno.reg"), &pb.UpdatePatronRequest{PatronId: id, Version: p.GetVersion(),
					Patron: &pb.PatronFields{Category: "c" + strings.Repeat("x", i+1)}, UpdateMask: mask("category")})
				if status.Code(err) != codes.FailedPrecondition {
					if err != nil {
						t.Error(err)
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	if p := get(); p.GetVersion() != v+1+n {
		t.Errorf("version %d after %d more updates, want %d", p.GetVersion(), n, v+1+n)
	}
}

func TestUpdateRules(t *testing.T) {
	t.Parallel()
	e := start(t)
	k1 := e.id(t, "K0001")
	b2 := e.id(t, "B0002")
	version := func(id string) int64 {
		var v int64
		_ = e.s.DB.QueryRow(context.Background(), `SELECT version FROM patrons WHERE id = $1`, id).Scan(&v)
		return v
	}
	upd := func(user, id string, f *pb.PatronFields, paths ...string) (*pb.Patron, error) {
		resp, err := e.c.UpdatePatron(e.ctx(t, user), &pb.UpdatePatronRequest{PatronId: id, Version: version(id), Patron: f, UpdateMask: mask(paths...)})
		return resp.GetPatron(), err
	}
	// Field groups the decision does not return cannot be written.
	if _, err := upd("kors.manager", k1, &pb.PatronFields{}, "special_categories"); status.Code(err) != codes.PermissionDenied {
		t.Errorf("special category without permission: %v", err)
	}
	if p, err := upd("kors.reg", k1, &pb.PatronFields{}, "special_categories"); err != nil || len(p.GetSpecialCategories()) != 0 {
		t.Errorf("special category with permission: %v", err)
	}
	if _, err := upd("kors.circ", k1, &pb.PatronFields{FirstName: "E"}, "first_name"); status.Code(err) != codes.PermissionDenied {
		t.Errorf("circulation update: %v", err)
	}
	// Other libraries never update, with consent or not.
	if _, err := upd("slav.manager", b2, &pb.PatronFields{FirstName: "P"}, "first_name"); status.Code(err) != codes.PermissionDenied {
		t.Errorf("consent library update: %v", err)
	}
	// Identifiers are replaced and re-sealed.
	p, err := upd("kors.reg", k1, &pb.PatronFields{IdDocumentNumber: "FI7654321",
		NationalIds: []*pb.NationalId{{Kind: pb.NationalIdKind_NATIONAL_ID_KIND_COORDINATION_NUMBER, Value: "19581103-2222"}}},
		"id_document_number", "national_ids")
	if err != nil || p.GetIdDocumentNumber() != "FI7654321" || len(p.GetNationalIds()) != 1 ||
		p.GetNationalIds()[0].GetKind() != pb.NationalIdKind_NATIONAL_ID_KIND_COORDINATION_NUMBER {
		t.Errorf("identifiers: %v %v", p, err)
	}
	// A minor's guardian cannot be removed.
	b4 := e.id(t, "B0004")
	if _, err := upd("brno.reg", b4, &pb.PatronFields{}, "guardian"); status.Code(err) != codes.FailedPrecondition || fieldOf(err) != "patron.guardian" {
		t.Errorf("remove guardian of a minor: %v", err)
	}
	// Contact data needs the optional-data consent (B0003 has none).
	if _, err := upd("brno.reg", e.id(t, "B0003"), &pb.PatronFields{Email: "l@example.cz"}, "email"); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("email without consent: %v", err)
	}
	// A library that does not collect phone numbers refuses them.
	if _, err := e.s.DB.Exec(context.Background(), `UPDATE library_settings SET collect_phone = false WHERE library_id = $1`, e.s.LibraryID(t, "BRNO")); err != nil {
		t.Fatal(err)
	}
	if _, err := upd("brno.reg", b2, &pb.PatronFields{Phone: "+420 600 000 000"}, "phone"); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("phone not collected: %v", err)
	}
	// Unknown mask paths are refused by validation.
	if _, err := upd("brno.reg", b2, &pb.PatronFields{}, "home_library_id"); status.Code(err) != codes.InvalidArgument {
		t.Errorf("unknown path: %v", err)
	}
	// A new card replaces the active one; the old stays, revoked; numbers are unique.
	resp, err := e.c.IssueCard(e.ctx(t, "brno.reg"), &pb.IssueCardRequest{PatronId: b2, CardNumber: "B2002"})
	if err != nil || resp.GetPatron().GetActiveCardNumber() != "B2002" || len(resp.GetPatron().GetCards()) != 2 {
		t.Errorf("issue card: %v %v", resp, err)
	}
	if _, err := e.c.IssueCard(e.ctx(t, "brno.reg"), &pb.IssueCardRequest{PatronId: b2, CardNumber: "S0001"}); status.Code(err) != codes.AlreadyExists || fieldOf(err) != "card_number" {
		t.Errorf("duplicate card: %v", err)
	}
	if _, err := e.c.IssueCard(e.ctx(t, "slav.reg"), &pb.IssueCardRequest{PatronId: b2, CardNumber: "B2003"}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("card by another library: %v", err)
	}
}

// A national identifier never reaches the logs, whatever the request does
// with it: register, search (gRPC and REST), read, update, duplicates,
// validation failures.
func TestNationalIdentifierNeverLogged(t *testing.T) {
	t.Parallel()
	e := start(t)
	const pin, pinNorm = "19800101-4242", "198001014242"
	ctx := e.ctx(t, "kors.reg")
	f := adult()
	f.NationalIds = []*pb.NationalId{{Kind: pb.NationalIdKind_NATIONAL_ID_KIND_PERSONAL_IDENTITY_NUMBER, Value: pin}}
	f.IdDocumentNumber = "PASS424242"
	resp, err := e.c.RegisterPatron(ctx, &pb.RegisterPatronRequest{Patron: f, CardNumber: "K4242"})
	if err != nil {
		t.Fatal(err)
	}
	id := resp.GetPatron().GetId()
	nid := &pb.NationalId{Kind: pb.NationalIdKind_NATIONAL_ID_KIND_PERSONAL_IDENTITY_NUMBER, Value: pin}
	var errs []error
	_, err = e.c.RegisterPatron(ctx, &pb.RegisterPatronRequest{Patron: f, CardNumber: "K4243"}) // duplicate
	errs = append(errs, err)
	minor := adult()
	minor.BirthDate = "2015-01-01"
	minor.NationalIds = f.NationalIds
	_, err = e.c.RegisterPatron(ctx, &pb.RegisterPatronRequest{Patron: minor, CardNumber: "K4244"})
	errs = append(errs, err)
	_, err = e.c.SearchPatrons(ctx, &pb.SearchPatronsRequest{NationalId: nid})
	errs = append(errs, err)
	_, err = e.c.SearchPatrons(e.ctx(t, "operator"), &pb.SearchPatronsRequest{NationalId: nid})
	errs = append(errs, err)
	_, err = e.c.SearchPatrons(ctx, &pb.SearchPatronsRequest{NationalId: &pb.NationalId{Kind: 0, Value: pin}})
	errs = append(errs, err)
	_, err = e.c.GetPatron(ctx, &pb.GetPatronRequest{PatronId: id})
	errs = append(errs, err)
	_, err = e.c.GetPatron(e.ctx(t, "brno.reg"), &pb.GetPatronRequest{PatronId: id})
	errs = append(errs, err)
	_, err = e.c.UpdatePatron(ctx, &pb.UpdatePatronRequest{PatronId: id, Version: 99, Patron: &pb.PatronFields{NationalIds: f.NationalIds}, UpdateMask: mask("national_ids")})
	errs = append(errs, err)
	e.rest(t, "kors.reg", "POST", "/v1/patrons:search", map[string]any{"nationalId": map[string]any{"kind": "NATIONAL_ID_KIND_PERSONAL_IDENTITY_NUMBER", "value": pin}})
	e.rest(t, "kors.reg", "POST", "/v1/patrons:search", map[string]any{"nationalId": map[string]any{"kind": "BOGUS", "value": pin}})
	e.rest(t, "kors.reg", "GET", "/v1/patrons/"+id, nil)
	for _, err := range errs {
		if err != nil && (strings.Contains(err.Error(), "4242") || strings.Contains(err.Error(), "PASS")) {
			t.Errorf("identifier in status: %v", err)
		}
	}
	logs := e.s.Logs.String()
	if len(logs) < 1000 {
		t.Fatalf("suspiciously few logs captured: %q", logs)
	}
	for _, secret := range []string{pin, pinNorm, "PASS424242", "031158-999X", pii.Normalize(pii.KindPersonalIdentityNumber, "031158-999X")} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain an identifier %q", secret)
		}
	}
}

// TestSetPatronPin: a patron who has forgotten their PIN gets a new one at
// the home library's desk (over REST). Another library, a desk without
// the right to change cards and the patron themself may not set it; every
// attempt is audited, none with any field of the record. After
// the reset the patron's open sessions end and only the new PIN signs in.
func TestSetPatronPin(t *testing.T) {
	t.Parallel()
	const newPin = "reset-8642q"
	e := start(t)
	id := e.id(t, "B0001")
	old := e.token(t, "patron:B0001")
	path := "/v1/patrons/" + id + ":setPin"
	for _, user := range []string{"slav.reg", "brno.circ", "patron:B0001"} {
		if code, body, _ := e.rest(t, user, "POST", path, map[string]any{"pin": newPin}); code != 403 {
			t.Errorf("%s sets the PIN: %d %v", user, code, body)
		}
	}
	if code, body, _ := e.rest(t, "brno.reg", "POST", path, map[string]any{"pin": "12"}); code != 400 {
		t.Errorf("a two-character PIN: %d %v", code, body)
	}
	code, body, rid := e.rest(t, "brno.reg", "POST", path, map[string]any{"pin": newPin})
	if code != 200 || len(body) != 0 {
		t.Fatalf("the home library sets the PIN: %d %v", code, body)
	}
	if rows := e.auditRows(t, rid); len(rows) != 1 || !rows[0].Allowed || rows[0].PatronID != id || len(rows[0].Fields) != 0 {
		t.Errorf("audit of the reset: %+v", rows)
	}
	var denied int
	if err := e.s.DB.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE patron_id = $1 AND NOT allowed
		AND action = 'patron.update'`, id).Scan(&denied); err != nil || denied != 3 {
		t.Errorf("audited refusals: %d, %v; want 3 (SLAV, BRNO's circulation desk, the patron)", denied, err)
	}
	auth := pb.NewAuthServiceClient(e.s.Conn)
	if _, err := auth.WhoAmI(testserver.Ctx(old), &pb.WhoAmIRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("the patron's session from before the reset: %v", err)
	}
	if _, err := auth.PatronLogin(context.Background(), &pb.PatronLoginRequest{CardNumber: "B0001", Pin: demo.PIN}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("login with the old PIN: %v", err)
	}
	if _, err := auth.PatronLogin(context.Background(), &pb.PatronLoginRequest{CardNumber: "B0001", Pin: newPin}); err != nil {
		t.Errorf("login with the new PIN: %v", err)
	}
	if strings.Contains(e.s.Logs.String(), newPin) {
		t.Error("the new PIN reached the logs")
	}
}
