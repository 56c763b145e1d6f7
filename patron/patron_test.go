package patron_test

import (
	"bytes"
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/patronfed/patronfed/patron"
	"github.com/patronfed/patronfed/pgtest"
	"github.com/patronfed/patronfed/pii"
	"github.com/patronfed/patronfed/policy"
)

func keyring(t *testing.T) *pii.Keyring {
	t.Helper()
	enc, idx := pii.GenerateKeyringSpec()
	kr, err := pii.ParseKeyring(enc, idx)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func library(t *testing.T, db *pgxpool.Pool, code string) string {
	t.Helper()
	var id string
	if err := db.QueryRow(context.Background(), `INSERT INTO libraries (code, name, country) VALUES ($1, $1, 'SE') RETURNING id::text`, code).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

var at = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func register(t *testing.T, db *pgxpool.Pool, kr *pii.Keyring, r patron.Registration) string {
	t.Helper()
	r.At = at
	if r.FirstName == "" {
		r.FirstName, r.LastName, r.BirthDate, r.PermanentAddress = "Greta", "Svensson", "1970-01-01", "Storgatan 1"
	}
	id, err := patron.Register(context.Background(), db, kr, &r)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// National identifiers and the ID document are stored only as ciphertext
// bound to their row, with the sealing key id, and found by exact match of
// the normalised value through the blind index.
func TestIdentifiersSealedBoundAndIndexed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewPool(t)
	kr := keyring(t)
	lib := library(t, db, "KORS")
	const pin = "19121212-1212"
	a := register(t, db, kr, patron.Registration{HomeLibraryID: lib, CardNumber: "K0001", Fields: patron.Fields{
		NationalIDs: []patron.NationalID{{Kind: pii.KindPersonalIdentityNumber, Value: pii.NewRedacted(pin)}},
		IDDocument:  pii.NewRedacted("AB123456"),
	}})
	b := register(t, db, kr, patron.Registration{HomeLibraryID: lib, CardNumber: "K0002"})

	rows, err := db.Query(ctx, `SELECT kind, ciphertext, key_id FROM patron_identifiers WHERE patron_id = $1`, a)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		var kind, keyID string
		var ct []byte
		if err := rows.Scan(&kind, &ct, &keyID); err != nil {
			t.Fatal(err)
		}
		n++
		if keyID != kr.CurrentKeyID() || bytes.Contains(ct, []byte("1212")) || bytes.Contains(ct, []byte("AB123456")) {
			t.Errorf("%s: key %q, ciphertext holds plaintext", kind, keyID)
		}
	}
	if n != 2 {
		t.Fatalf("%d identifier rows, want 2", n)
	}
	var dump string
	if err := db.QueryRow(ctx, `SELECT string_agg(t::text, ' ') FROM patrons t`).Scan(&dump); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(dump, "1212") || strings.Contains(dump, "AB123456") {
		t.Error("identifier in plain text in patrons")
	}

	ids, err := patron.LoadIdentifiers(ctx, db, kr, a, true, true)
	if err != nil || ids.IDDocument.Reveal() != "AB123456" || len(ids.National) != 1 || ids.National[0].Value.Reveal() != pin {
		t.Fatalf("identifiers = %+v, %v", ids, err)
	}
	if only, _ := patron.LoadIdentifiers(ctx, db, kr, a, true, false); len(only.National) != 0 {
		t.Error("national identifiers decrypted without being asked for")
	}

	// Exact match of the normalised value, and nothing else.
	for q, want := range map[string]int{pin: 1, "191212121212": 1, " 19121212 1212 ": 1, "19121212": 0, "19121212-1213": 0} {
		recs, err := patron.NewSearcher(patron.PlanAuto).Search(ctx, db, policy.Subject{Kind: policy.KindStaff, LibraryID: lib, Permissions: []string{policy.PermPatronRead}},
			patron.Query{NationalIDKind: pii.KindPersonalIdentityNumber, NationalIDIndex: kr.BlindIndex(pii.KindPersonalIdentityNumber, q)})
		if err != nil || len(recs) != want {
			t.Errorf("search %q: %d hits, %v; want %d", q, len(recs), err, want)
		}
	}

	// A ciphertext copied to another patron's row does not open there.
	if _, err := db.Exec(ctx, `INSERT INTO patron_identifiers (patron_id, kind, ciphertext, key_id, blind_index)
		SELECT $2, kind, ciphertext, key_id, blind_index FROM patron_identifiers WHERE patron_id = $1 AND kind = 'id_document'`, a, b); err != nil {
		t.Fatal(err)
	}
	if _, err := patron.LoadIdentifiers(ctx, db, kr, b, true, false); err == nil || strings.Contains(err.Error(), "AB") {
		t.Errorf("copied ciphertext: %v", err)
	}

	// The same national identifier cannot be registered twice.
	_, err = patron.Register(ctx, db, kr, &patron.Registration{HomeLibraryID: lib, CardNumber: "K0003", At: at, Fields: patron.Fields{
		FirstName: "X", LastName: "Y", BirthDate: "1980-01-01", PermanentAddress: "Z",
		NationalIDs: []patron.NationalID{{Kind: pii.KindPersonalIdentityNumber, Value: pii.NewRedacted("191212121212")}},
	}})
	if err == nil {
		t.Fatal("duplicate national identifier registered")
	}
}

// The contracts the loans service codes against.
func TestResourceCardAndLoanContact(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewPool(t)
	kr := keyring(t)
	home, other := library(t, db, "BRNO"), library(t, db, "SLAV")
	id := register(t, db, kr, patron.Registration{HomeLibraryID: home, CardNumber: "b0100", OptionalDataConsent: true,
		Fields: patron.Fields{FirstName: "Jana", LastName: "Nováková", BirthDate: "1985-04-12", PermanentAddress: "Masarykova 12",
			ContactAddress: "Poštovní 1", Email: "jana@example.cz", Phone: "+420 601 000 000"}})
	if _, err := db.Exec(ctx, `INSERT INTO consents (patron_id, library_id, granted_at, method) VALUES ($1, $2, now(), 'web')`, id, other); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, loanSQL, "ITEM1", other, id, at, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, loanSQL, "ITEM2", home, id, at, at.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	res, err := patron.LoadResource(ctx, db, id)
	if err != nil || res.HomeLibraryID != home || len(res.ConsentLibraryIDs) != 1 || res.ConsentLibraryIDs[0] != other ||
		len(res.ActiveLoanLibraryIDs) != 1 || res.ActiveLoanLibraryIDs[0] != other || !res.OptionalDataConsent || res.Archived {
		t.Errorf("resource = %+v, %v", res, err)
	}
	if _, err := patron.LoadResource(ctx, db, "6f1c0f3e-0000-4000-8000-000000000000"); status.Code(err) != codes.NotFound {
		t.Errorf("missing patron: %v", err)
	}
	// Card numbers are stored and matched in upper case; only the active card.
	if got, err := patron.IDByCard(ctx, db, "B0100"); err != nil || got != id {
		t.Errorf("IDByCard = %q, %v", got, err)
	}
	if err := patron.IssueCard(ctx, db, id, "B0101", at); err != nil {
		t.Fatal(err)
	}
	if _, err := patron.IDByCard(ctx, db, "b0100"); status.Code(err) != codes.NotFound {
		t.Errorf("revoked card: %v", err)
	}
	c, err := patron.LoanContact(ctx, db, id)
	want := patron.Contact{PatronID: id, Name: "Jana Nováková", CardNumber: "B0101", Address: "Poštovní 1",
		Email: "jana@example.cz", Phone: "+420 601 000 000"}
	if err != nil || c != want {
		t.Errorf("LoanContact = %+v, %v", c, err)
	}
	// A desk's list reads its page's patrons at once; one gone is left out.
	other2 := register(t, db, kr, patron.Registration{HomeLibraryID: home, CardNumber: "b0102",
		Fields: patron.Fields{FirstName: "Petr", LastName: "Dvořák", BirthDate: "1990-01-02", PermanentAddress: "Nádražní 3"}})
	cs, err := patron.LoanContacts(ctx, db, []string{id, other2, "6f1c0f3e-0000-4000-8000-000000000000"})
	want2 := patron.Contact{PatronID: other2, Name: "Petr Dvořák", CardNumber: "B0102", Address: "Nádražní 3"}
	if err != nil || len(cs) != 2 || cs[id] != want || cs[other2] != want2 {
		t.Errorf("LoanContacts = %+v, %v", cs, err)
	}
	// The resources and contacts in one statement: the same as read apart.
	rs, cs, err := patron.LoadResourcesAndContacts(ctx, db, []string{other2, id, "6f1c0f3e-0000-4000-8000-000000000000"})
	if err != nil || len(rs) != 2 || len(cs) != 2 || cs[id] != want || cs[other2] != want2 ||
		!reflect.DeepEqual(rs[id], res) || rs[other2].HomeLibraryID != home || len(rs[other2].ConsentLibraryIDs) != 0 {
		t.Errorf("LoadResourcesAndContacts = %+v, %+v, %v", rs, cs, err)
	}
	if _, _, err := patron.LoadResourceAndContact(ctx, db, "6f1c0f3e-0000-4000-8000-000000000000"); status.Code(err) != codes.NotFound {
		t.Errorf("LoadResourceAndContact of a missing patron: %v", err)
	}
	// Without the optional-data consent the contact data cannot even be kept.
	if _, err := db.Exec(ctx, `UPDATE patrons SET optional_data_consent = false, optional_data_consent_at = NULL WHERE id = $1`, id); err == nil {
		t.Error("optional data kept without consent")
	}
}

func TestMinorByLibrarySetting(t *testing.T) {
	t.Parallel()
	f := patron.Fields{FirstName: "A", LastName: "B", BirthDate: "2010-05-15", PermanentAddress: "C"}
	for _, tc := range []struct {
		minorAge int
		guardian bool
		want     codes.Code
	}{
		{15, false, codes.OK},                 // 15 at 2026-03-02: an adult at 15
		{18, false, codes.FailedPrecondition}, // a minor where minors are under 18
		{18, true, codes.OK},
	} {
		g := f
		if tc.guardian {
			g.Guardian = &patron.Guardian{Name: "Parent"}
		}
		err := patron.Check(&g, false, patron.Settings{MinorAge: tc.minorAge}, at, "patron")
		if status.Code(err) != tc.want {
			t.Errorf("minor age %d, guardian %v: %v, want %v", tc.minorAge, tc.guardian, err, tc.want)
		}
	}
	bad := f
	bad.BirthDate = "2026-02-30"
	if err := patron.Check(&bad, false, patron.Settings{MinorAge: 15}, at, "patron"); status.Code(err) != codes.InvalidArgument {
		t.Errorf("2026-02-30: %v", err)
	}
	if patron.Age(time.Date(2008, 2, 29, 0, 0, 0, 0, time.UTC), time.Date(2026, 2, 28, 0, 0, 0, 0, time.UTC)) != 17 {
		t.Error("leap-day birthday counted early")
	}
}

// The contact address is recorded at every registration: the permanent
// address unless another is given (privacy-rules §1, basic identity).
func TestContactAddressDefaultsToPermanent(t *testing.T) {
	t.Parallel()
	db := pgtest.NewPool(t)
	kr := keyring(t)
	lib := library(t, db, "CONT")
	plain := register(t, db, kr, patron.Registration{HomeLibraryID: lib, CardNumber: "C0001"})
	other := register(t, db, kr, patron.Registration{HomeLibraryID: lib, CardNumber: "C0002", Fields: patron.Fields{
		FirstName: "Olof", LastName: "Berg", BirthDate: "1980-05-05", PermanentAddress: "Storgatan 2", ContactAddress: "Box 12"}})
	for id, want := range map[string]string{plain: "Storgatan 1", other: "Box 12"} {
		var got string
		if err := db.QueryRow(context.Background(), `SELECT contact_address FROM patrons WHERE id = $1`, id).Scan(&got); err != nil || got != want {
			t.Errorf("contact address %q (%v), want %q", got, err, want)
		}
	}
}
