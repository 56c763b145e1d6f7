// Package circtest has fixtures for the circulation integration tests:
// patrons with a card at a home library, consents given and withdrawn, and
// request ids. It writes through the test server's superuser pool, as a
// registrar would through the patron API.
package circtest

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/patronfed/patronfed/auth"
	"github.com/patronfed/patronfed/demo"
	"github.com/patronfed/patronfed/testserver"
)

// Patron is a test patron.
type Patron struct {
	ID, Card, Name, Address string
}

// NewPatron registers a patron of the library with code home, with card
// and the demo PIN, and returns it.
func NewPatron(t testing.TB, s *testserver.Server, home, card, first, last string) Patron {
	t.Helper()
	pin, err := auth.HashSecret(demo.PIN, auth.TestParams)
	if err != nil {
		t.Fatal(err)
	}
	p := Patron{Card: card, Name: first + " " + last, Address: "Náměstí 1, " + home}
	ctx := context.Background()
	if err := s.DB.QueryRow(ctx, `INSERT INTO patrons (home_library_id, pin_hash, first_name, last_name, permanent_address)
		VALUES ($1, $2, $3, $4, $5) RETURNING id::text`, s.LibraryID(t, home), pin, first, last, p.Address).Scan(&p.ID); err != nil {
		t.Fatalf("patron: %v", err)
	}
	if _, err := s.DB.Exec(ctx, `INSERT INTO cards (card_number, patron_id) VALUES ($1, $2)`, card, p.ID); err != nil {
		t.Fatalf("card: %v", err)
	}
	return p
}

// Consent records the patron's consent to share with the library code.
func Consent(t testing.TB, s *testserver.Server, patronID, code string) {
	t.Helper()
	if _, err := s.DB.Exec(context.Background(), `INSERT INTO consents (patron_id, library_id, granted_at, method)
		VALUES ($1, $2, now(), 'in_person')`, patronID, s.LibraryID(t, code)); err != nil {
		t.Fatalf("consent: %v", err)
	}
}

// Withdraw removes the patron's consent to share with the library code.
func Withdraw(t testing.TB, s *testserver.Server, patronID, code string) {
	t.Helper()
	if _, err := s.DB.Exec(context.Background(), `DELETE FROM consents WHERE patron_id = $1 AND library_id = $2`,
		patronID, s.LibraryID(t, code)); err != nil {
		t.Fatalf("withdraw: %v", err)
	}
}

// DemoPatronID is the id of the demo patron with card.
func DemoPatronID(t testing.TB, s *testserver.Server, card string) string {
	t.Helper()
	var id string
	if err := s.DB.QueryRow(context.Background(), `SELECT patron_id::text FROM cards WHERE card_number = $1`, card).Scan(&id); err != nil {
		t.Fatalf("card %s: %v", card, err)
	}
	return id
}

// ReqID returns a fresh request id.
func ReqID() string { return uuid.NewString() }

// Code asserts that err has code c and returns its message.
func Code(t testing.TB, err error, c codes.Code) string {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != c {
		t.Fatalf("got %v %q, want %v", st.Code(), st.Message(), c)
	}
	return st.Message()
}

// AuditCount counts audit rows of action about patronID by the account.
func AuditCount(t testing.TB, s *testserver.Server, account, action, patronID string, allowed bool) int {
	t.Helper()
	var n int
	if err := s.DB.QueryRow(context.Background(), `SELECT count(*) FROM audit_log a JOIN accounts c ON c.id = a.actor_id
		WHERE c.username = $1 AND a.action = $2 AND a.patron_id = $3 AND a.allowed = $4`,
		account, action, patronID, allowed).Scan(&n); err != nil {
		t.Fatalf("audit: %v", err)
	}
	return n
}
