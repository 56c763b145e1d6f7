package patron_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/patronfed/patronfed/patron"
	"github.com/patronfed/patronfed/pgtest"
	"github.com/patronfed/patronfed/store"
)

// TestOptionalDataNeedsConsentInTheDatabase (privacy-rules §1 "optional
// contact data: kept only with the patron's consent"): the database itself
// refuses e-mail, phone or academic titles on a patron without the
// optional-data consent, on insert and on update, as the server's role,
// so no code path (a handler, a migration, a script) can keep them.
func TestOptionalDataNeedsConsentInTheDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDB(t)
	db, err := store.Open(ctx, url, store.PoolOptions{AppRole: "patronfed_app", MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	var lib string
	if err := db.QueryRow(ctx, `INSERT INTO libraries (code, name, country) VALUES ('BRNO', 'Brno', 'CZ') RETURNING id::text`).Scan(&lib); err != nil {
		t.Fatal(err)
	}
	violates := func(what string, err error) {
		t.Helper()
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "23514" || pe.ConstraintName != "patrons_optional_data_needs_consent" {
			t.Errorf("%s: %v, want a check violation of patrons_optional_data_needs_consent", what, err)
		}
	}
	for _, col := range []string{"email", "phone", "academic_titles"} {
		value := map[string]string{"email": "x@example.cz", "phone": "+420 600 000 000", "academic_titles": "Mgr."}[col]
		_, err := db.Exec(ctx, `INSERT INTO patrons (home_library_id, first_name, last_name, `+col+`) VALUES ($1, 'A', 'B', $2)`, lib, value)
		violates("insert "+col+" without consent", err)
	}
	var id string
	if err := db.QueryRow(ctx, `INSERT INTO patrons (home_library_id, first_name, last_name, email, optional_data_consent, optional_data_consent_at)
		VALUES ($1, 'A', 'B', 'x@example.cz', true, now()) RETURNING id::text`, lib).Scan(&id); err != nil {
		t.Fatalf("with consent: %v", err)
	}
	_, err = db.Exec(ctx, `UPDATE patrons SET optional_data_consent = false, optional_data_consent_at = NULL WHERE id = $1`, id)
	violates("withdraw the consent and keep the e-mail", err)
	if _, err := db.Exec(ctx, `UPDATE patrons SET optional_data_consent = false, optional_data_consent_at = NULL, email = NULL WHERE id = $1`, id); err != nil {
		t.Fatalf("withdraw with the data: %v", err)
	}
	_, err = db.Exec(ctx, `UPDATE patrons SET phone = '+420 600 000 001' WHERE id = $1`, id)
	violates("add a phone without consent", err)
}

// TestIdentityRequiredAtRegistration (privacy-rules §1 "basic identity:
// required at registration"): first name, last name, date of birth and
// permanent address are each required; the error names the field.
func TestIdentityRequiredAtRegistration(t *testing.T) {
	t.Parallel()
	full := patron.Fields{FirstName: "Greta", LastName: "Svensson", BirthDate: "1970-01-01", PermanentAddress: "Storgatan 1"}
	if err := patron.Check(&full, false, patron.Settings{MinorAge: 15}, at, "patron"); err != nil {
		t.Fatalf("complete identity: %v", err)
	}
	for field, clear := range map[string]func(*patron.Fields){
		"first_name":        func(f *patron.Fields) { f.FirstName = " " },
		"last_name":         func(f *patron.Fields) { f.LastName = "" },
		"birth_date":        func(f *patron.Fields) { f.BirthDate = "" },
		"permanent_address": func(f *patron.Fields) { f.PermanentAddress = "" },
	} {
		f := full
		clear(&f)
		err := patron.Check(&f, false, patron.Settings{MinorAge: 15}, at, "patron")
		if status.Code(err) != codes.InvalidArgument || violation(err) != "patron."+field {
			t.Errorf("without %s: %v", field, err)
		}
	}
}

func violation(err error) string {
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) > 0 {
			return br.GetFieldViolations()[0].GetField()
		}
	}
	return ""
}
