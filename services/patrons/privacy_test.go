package patrons_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
	"github.com/patronfed/patronfed/pii"
)

// Special-category data (privacy-rules §1 "special category", §2.8) needs
// its own permission on every read path, not only GetPatron: search by
// name, card and national identifier, and the listing, over gRPC and REST.
// K0001 (KORS) is registered for accessible media; kors.reg holds
// patron.special_category, kors.manager and kors.circ do not. Another
// library with consent never gets the identifiers through a search either.
func TestSpecialCategoryOnSearchAndList(t *testing.T) {
	t.Parallel()
	e := start(t)
	k1 := e.id(t, "K0001")
	nid := &pb.NationalId{Kind: pb.NationalIdKind_NATIONAL_ID_KIND_PERSONAL_IDENTITY_NUMBER, Value: "031158-999X"}
	// hits finds the patron id among the results of each search and of
	// the paged listing, for user.
	hits := func(t *testing.T, user, id string, searches map[string]*pb.SearchPatronsRequest) map[string]*pb.Patron {
		t.Helper()
		out := map[string]*pb.Patron{}
		find := func(path string, ps []*pb.Patron) {
			for _, p := range ps {
				if p.GetId() == id {
					out[path] = p
				}
			}
		}
		for name, q := range searches {
			resp, err := e.c.SearchPatrons(e.ctx(t, user), q)
			if err != nil {
				t.Fatalf("%s %s: %v", user, name, err)
			}
			find(name, resp.GetPatrons())
		}
		token := ""
		for {
			resp, err := e.c.ListPatrons(e.ctx(t, user), &pb.ListPatronsRequest{PageSize: 3, PageToken: token})
			if err != nil {
				t.Fatalf("%s list: %v", user, err)
			}
			find("list", resp.GetPatrons())
			if token = resp.GetNextPageToken(); token == "" {
				break
			}
		}
		return out
	}
	k1Searches := map[string]*pb.SearchPatronsRequest{
		"search by card":        {CardNumber: "K0001"},
		"search by name":        {Name: "lindqvist"},
		"search by national id": {NationalId: nid},
	}
	for _, tc := range []struct {
		user    string
		special bool
	}{{"kors.reg", true}, {"kors.manager", false}, {"kors.circ", false}} {
		got := hits(t, tc.user, k1, k1Searches)
		if len(got) != 4 {
			t.Fatalf("%s: K0001 found on %d read paths, want 4 (%v)", tc.user, len(got), got)
		}
		for path, p := range got {
			hasGroup := slices.Contains(p.GetVisibleFields(), "special_category")
			hasData := len(p.GetSpecialCategories()) > 0
			if hasGroup != tc.special || hasData != tc.special {
				t.Errorf("%s %s: special_category visible=%v data=%v, want %v", tc.user, path, hasGroup, hasData, tc.special)
			}
		}
	}
	// REST: the same for the search and the listing.
	for _, tc := range []struct {
		user    string
		special bool
	}{{"kors.reg", true}, {"kors.manager", false}} {
		_, body, _ := e.rest(t, tc.user, "POST", "/v1/patrons:search", map[string]any{"cardNumber": "K0001"})
		ps, _ := body["patrons"].([]any)
		if len(ps) != 1 {
			t.Fatalf("REST search %s: %v", tc.user, body)
		}
		if _, ok := ps[0].(map[string]any)["specialCategories"]; ok != tc.special {
			t.Errorf("REST search %s: specialCategories present=%v, want %v", tc.user, ok, tc.special)
		}
		code, raw := e.s.HTTPRaw(t, "GET", "/v1/patrons?pageSize=100", e.token(t, tc.user), nil)
		if code != http.StatusOK || strings.Contains(string(raw), "SPECIAL_CATEGORY_ACCESSIBLE_MEDIA") != tc.special {
			t.Errorf("REST list %s: %d, accessible media shown=%v, want %v", tc.user, code, !tc.special, tc.special)
		}
	}
	// Another library with consent (SLAV for B0002): the record through the
	// search, never the ID document or national identifiers.
	b2 := e.id(t, "B0002")
	got := hits(t, "slav.reg", b2, map[string]*pb.SearchPatronsRequest{"search by card": {CardNumber: "B0002"}, "search by name": {Name: "svoboda"}})
	if len(got) != 3 {
		t.Fatalf("slav.reg: B0002 found on %d read paths, want 3", len(got))
	}
	for path, p := range got {
		if p.GetIdDocumentNumber() != "" || len(p.GetNationalIds()) > 0 ||
			slices.Contains(p.GetVisibleFields(), "id_document") || slices.Contains(p.GetVisibleFields(), "national_ids") {
			t.Errorf("slav.reg %s: identifiers of another library's patron: %v", path, p)
		}
	}
}

// The guardian rule follows the home library's minor_age setting
// (privacy-rules §1 "guardian": under 15 or under 18, a per-library
// setting): a manager changing the setting through the API changes who
// needs a guardian at the next registration and update.
func TestMinorAgeFollowsTheHomeLibrarySetting(t *testing.T) {
	t.Parallel()
	e := start(t)
	settings := pb.NewSettingsServiceClient(e.s.Conn)
	brno := e.s.LibraryID(t, "BRNO")
	sixteen := func() *pb.PatronFields { f := adult(); f.BirthDate = "2010-01-01"; return f } // 16 on the test clock
	register := func(f *pb.PatronFields, card string) error {
		_, err := e.c.RegisterPatron(e.ctx(t, "brno.reg"), &pb.RegisterPatronRequest{Patron: f, CardNumber: card})
		return err
	}
	if err := register(sixteen(), "B0901"); err != nil {
		t.Fatalf("16-year-old at BRNO (minor age 15): %v", err)
	}
	if _, err := settings.UpdateLibrarySettings(e.ctx(t, "brno.manager"),
		&pb.UpdateLibrarySettingsRequest{LibraryId: brno, MinorAge: proto.Int32(18)}); err != nil {
		t.Fatal(err)
	}
	if err := register(sixteen(), "B0902"); status.Code(err) != codes.FailedPrecondition || fieldOf(err) != "patron.guardian" {
		t.Errorf("16-year-old at BRNO after minor age 18: %v, want FAILED_PRECONDITION on patron.guardian", err)
	}
	withGuardian := sixteen()
	withGuardian.Guardian = &pb.Guardian{Name: "Marta Veselá"}
	if err := register(withGuardian, "B0903"); err != nil {
		t.Errorf("16-year-old with a guardian: %v", err)
	}
	// The patron registered as an adult is now a minor: an update that
	// would leave them without a guardian is refused too.
	id := e.id(t, "B0901")
	var version int64
	if err := e.s.DB.QueryRow(context.Background(), `SELECT version FROM patrons WHERE id = $1`, id).Scan(&version); err != nil {
		t.Fatal(err)
	}
	_, err := e.c.UpdatePatron(e.ctx(t, "brno.reg"), &pb.UpdatePatronRequest{PatronId: id, Version: version,
		Patron: &pb.PatronFields{Category: "student"}, UpdateMask: mask("category")})
	if status.Code(err) != codes.FailedPrecondition || fieldOf(err) != "patron.guardian" {
		t.Errorf("update of a patron who became a minor by the setting: %v", err)
	}
	// Other libraries keep their own setting.
	if _, err := e.c.RegisterPatron(e.ctx(t, "slav.reg"), &pb.RegisterPatronRequest{Patron: sixteen(), CardNumber: "S0901"}); err != nil {
		t.Errorf("16-year-old at SLAV (minor age 15): %v", err)
	}
}

// National identifiers never appear in error bodies or in the audit log
// (privacy-rules §1 "national identifiers": never in logs), and are stored
// nowhere in the database in plain text (encrypted at rest): REST
// registration, search, duplicate and validation failures, then a scan of
// every column of every table. (gRPC statuses and the server log:
// TestNationalIdentifierNeverLogged.)
func TestNationalIdentifierNotInErrorBodiesOrTables(t *testing.T) {
	t.Parallel()
	e := start(t)
	const pin = "19750505-5757"
	secrets := []string{pin, pii.Normalize(pii.KindPersonalIdentityNumber, pin), "ID5757575", "031158-999X",
		pii.Normalize(pii.KindPersonalIdentityNumber, "031158-999X")}
	leak := func(where, s string) {
		t.Helper()
		for _, x := range secrets {
			if strings.Contains(s, x) {
				t.Errorf("%s contains identifier %q: %s", where, x, s)
			}
		}
	}
	patron := map[string]any{"firstName": "Ivar", "lastName": "Berg", "birthDate": "1975-05-05", "permanentAddress": "Kyrkvägen 5",
		"idDocumentNumber": "ID5757575", "nationalIds": []any{map[string]any{"kind": "NATIONAL_ID_KIND_PERSONAL_IDENTITY_NUMBER", "value": pin}}}
	code, raw := e.s.HTTPRaw(t, "POST", "/v1/patrons", e.token(t, "kors.reg"), map[string]any{"patron": patron, "cardNumber": "K5757"})
	if code != http.StatusOK {
		t.Fatalf("register: %d %s", code, raw)
	}
	minor := map[string]any{}
	for k, v := range patron {
		minor[k] = v
	}
	minor["birthDate"] = "2015-01-01"
	badKind := map[string]any{"nationalId": map[string]any{"kind": "NATIONAL_ID_KIND_UNSPECIFIED", "value": pin}}
	for _, tc := range []struct {
		name, user, method, path string
		body                     any
		want                     int
	}{
		{"duplicate national id", "kors.reg", "POST", "/v1/patrons", map[string]any{"patron": patron, "cardNumber": "K5758"}, http.StatusConflict},
		{"minor without guardian", "kors.reg", "POST", "/v1/patrons", map[string]any{"patron": minor, "cardNumber": "K5759"}, http.StatusPreconditionFailed},
		{"another library registers", "brno.reg", "POST", "/v1/patrons", map[string]any{"patron": patron, "cardNumber": "B5757",
			"homeLibraryId": e.s.LibraryID(t, "KORS")}, http.StatusForbidden},
		{"unspecified kind", "kors.reg", "POST", "/v1/patrons:search", badKind, http.StatusBadRequest},
		{"operator searches", "operator", "POST", "/v1/patrons:search", map[string]any{"nationalId": map[string]any{
			"kind": "NATIONAL_ID_KIND_PERSONAL_IDENTITY_NUMBER", "value": pin}}, http.StatusForbidden},
		{"patron searches", "patron:B0001", "POST", "/v1/patrons:search", map[string]any{"nationalId": map[string]any{
			"kind": "NATIONAL_ID_KIND_PERSONAL_IDENTITY_NUMBER", "value": pin}}, http.StatusForbidden},
		{"search without a hit", "brno.reg", "POST", "/v1/patrons:search", map[string]any{"nationalId": map[string]any{
			"kind": "NATIONAL_ID_KIND_PERSONAL_IDENTITY_NUMBER", "value": "031158-999X"}}, http.StatusOK},
	} {
		code, raw := e.s.HTTPRaw(t, tc.method, tc.path, e.token(t, tc.user), tc.body)
		if code != tc.want {
			t.Errorf("%s: HTTP %d %s, want %d", tc.name, code, raw, tc.want)
		}
		leak(tc.name+" (REST body)", string(raw))
	}
	// A search with a hit returns the identifier to the home registrar,
	// which is the point; everything written meanwhile must not hold it.
	if code, _ := e.s.HTTPRaw(t, "POST", "/v1/patrons:search", e.token(t, "kors.reg"), map[string]any{"nationalId": map[string]any{
		"kind": "NATIONAL_ID_KIND_PERSONAL_IDENTITY_NUMBER", "value": pin}}); code != http.StatusOK {
		t.Fatalf("search: %d", code)
	}

	// The audit log (input, reasons, every column) and every other table:
	// only patron_identifiers holds them, as ciphertext.
	ctx := context.Background()
	var audited int
	if err := e.s.DB.QueryRow(ctx, `SELECT count(*) FROM audit_log`).Scan(&audited); err != nil || audited < 4 {
		t.Fatalf("%d audit rows (%v): the requests above should have been audited", audited, err)
	}
	rows, err := e.s.DB.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	rows.Close()
	if !slices.Contains(tables, "audit_log") || !slices.Contains(tables, "patron_identifiers") {
		t.Fatalf("tables %v", tables)
	}
	for _, table := range tables {
		var dump *string
		if err := e.s.DB.QueryRow(ctx, `SELECT string_agg(t::text, ' ') FROM "`+table+`" t`).Scan(&dump); err != nil {
			t.Fatal(err)
		}
		if dump != nil {
			leak("table "+table, *dump)
		}
		// The scan sees the data: the registered name is in patrons.
		if table == "patrons" && (dump == nil || !strings.Contains(*dump, "Ivar")) {
			t.Error("the table scan does not see the patron just registered")
		}
	}

	// The REST gateway's own decoding errors (protojson quotes the
	// offending token) must not echo an identifier sent with the wrong
	// JSON type (server/gateway.go, gatewayDecodeMessage).
	t.Run("identifier sent as a JSON number", func(t *testing.T) {
		code, raw := e.s.HTTPRaw(t, "POST", "/v1/patrons:search", e.token(t, "kors.reg"),
			`{"nationalId":{"kind":"NATIONAL_ID_KIND_PERSONAL_IDENTITY_NUMBER","value":198001014242}}`)
		if code != http.StatusBadRequest || strings.Contains(string(raw), "198001014242") {
			t.Errorf("HTTP %d %s: the identifier is echoed", code, raw)
		}
	})
}
