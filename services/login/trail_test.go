package login_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/patronfed/patronfed/demo"
	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
	"github.com/patronfed/patronfed/testserver"
)

// from is a context for a client at ip: the gRPC peer is loopback, so the
// server takes the address from x-forwarded-for, as behind the gateway.
func from(ip string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "x-forwarded-for", ip)
}

// dumpAll returns every row of every table of the database as text.
func dumpAll(t *testing.T, s *testserver.Server) string {
	t.Helper()
	ctx := context.Background()
	rows, err := s.DB.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`)
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
	var sb strings.Builder
	for _, table := range tables {
		var dump *string
		if err := s.DB.QueryRow(ctx, `SELECT string_agg(t::text, ' ') FROM "`+table+`" t`).Scan(&dump); err != nil {
			t.Fatal(err)
		}
		if dump != nil {
			sb.WriteString(table + ": " + *dump + "\n")
		}
	}
	return sb.String()
}

// TestLoginTrailOnlyTheLastIsKept (privacy-rules §1 "login trail", §3
// "login trail: the last login only, overwritten"): a staff member and a
// patron each log in from one address, then from another; the database
// holds the second login only, and the first address is nowhere in it
// (no history table, no copy).
func TestLoginTrailOnlyTheLastIsKept(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	auth := pb.NewAuthServiceClient(s.Conn)
	const first, second = "203.0.113.77", "2001:db8::77"
	staffLogin := func(ip string) {
		t.Helper()
		if _, err := auth.Login(from(ip), &pb.LoginRequest{Username: "kors.reg", Password: demo.Password}); err != nil {
			t.Fatal(err)
		}
	}
	patronLogin := func(ip string) {
		t.Helper()
		if _, err := auth.PatronLogin(from(ip), &pb.PatronLoginRequest{CardNumber: "K0002", Pin: demo.PIN}); err != nil {
			t.Fatal(err)
		}
	}
	staffLogin(first)
	patronLogin(first)
	if dump := dumpAll(t, s); strings.Count(dump, first) != 2 {
		t.Fatalf("after the first logins the address is stored %d times, want 2 (staff and patron trail)", strings.Count(dump, first))
	}
	s.Clock.Advance(time.Hour)
	staffLogin(second)
	patronLogin(second)

	ctx := context.Background()
	var at time.Time
	var ip string
	if err := s.DB.QueryRow(ctx, `SELECT last_login_at, host(last_login_ip) FROM accounts WHERE username = 'kors.reg'`).Scan(&at, &ip); err != nil {
		t.Fatal(err)
	}
	if !at.Equal(testserver.Epoch.Add(time.Hour)) || ip != second {
		t.Errorf("staff login trail %v %s, want the second login only", at, ip)
	}
	if err := s.DB.QueryRow(ctx, `SELECT p.last_login_at, host(p.last_login_ip) FROM patrons p JOIN cards c ON c.patron_id = p.id
		WHERE c.card_number = 'K0002'`).Scan(&at, &ip); err != nil {
		t.Fatal(err)
	}
	if !at.Equal(testserver.Epoch.Add(time.Hour)) || ip != second {
		t.Errorf("patron login trail %v %s, want the second login only", at, ip)
	}
	if dump := dumpAll(t, s); strings.Contains(dump, first) {
		t.Errorf("the first login's address is still stored somewhere")
	}
}

// TestSecretsStoredOnlyAsSlowSaltedHashes (privacy-rules §1 "credentials",
// §5.1): passwords and PINs set through the API are stored as argon2id
// PHC strings, never in clear, with a salt of their own (the same secret
// twice gives two different hashes).
func TestSecretsStoredOnlyAsSlowSaltedHashes(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	op := testserver.Ctx(s.Login(t, "operator"))
	reg := testserver.Ctx(s.Login(t, "brno.reg"))
	const password, pin = "same-password-for-both", "80731"
	for _, u := range []string{"brno.anna", "brno.bert"} {
		if _, err := pb.NewLibraryServiceClient(s.Conn).CreateStaffAccount(op, &pb.CreateStaffAccountRequest{
			LibraryId: s.LibraryID(t, "BRNO"), Username: u, DisplayName: u, Password: password, Roles: []pb.Role{pb.Role_ROLE_CIRCULATION},
		}); err != nil {
			t.Fatal(err)
		}
	}
	for _, card := range []string{"B7001", "B7002"} {
		if _, err := pb.NewPatronServiceClient(s.Conn).RegisterPatron(reg, &pb.RegisterPatronRequest{CardNumber: card, Pin: pin,
			Patron: &pb.PatronFields{FirstName: "A", LastName: card, BirthDate: "1990-01-01", PermanentAddress: "Brno"}}); err != nil {
			t.Fatal(err)
		}
	}
	var hashes []string
	if err := s.DB.QueryRow(context.Background(), `SELECT array_agg(password_hash ORDER BY username) FROM accounts WHERE username IN ('brno.anna', 'brno.bert')`).Scan(&hashes); err != nil {
		t.Fatal(err)
	}
	var pins []string
	if err := s.DB.QueryRow(context.Background(), `SELECT array_agg(p.pin_hash ORDER BY c.card_number) FROM patrons p JOIN cards c ON c.patron_id = p.id
		WHERE c.card_number IN ('B7001', 'B7002')`).Scan(&pins); err != nil {
		t.Fatal(err)
	}
	for _, set := range []struct {
		what, secret string
		hashes       []string
	}{{"password", password, hashes}, {"PIN", pin, pins}} {
		if len(set.hashes) != 2 || set.hashes[0] == set.hashes[1] {
			t.Errorf("%s hashes %v: want two different (salted) hashes", set.what, set.hashes)
		}
		for _, h := range set.hashes {
			if !strings.HasPrefix(h, "$argon2id$") || strings.Contains(h, set.secret) {
				t.Errorf("%s stored as %q, want an argon2id hash", set.what, h)
			}
		}
	}
	if strings.Contains(dumpAll(t, s), password) {
		t.Error("the password is stored in clear")
	}
	// Both still work: the hash is what login checks.
	if _, err := pb.NewAuthServiceClient(s.Conn).Login(context.Background(), &pb.LoginRequest{Username: "brno.bert", Password: password}); err != nil {
		t.Errorf("login with the password: %v", err)
	}
	if _, err := pb.NewAuthServiceClient(s.Conn).PatronLogin(context.Background(), &pb.PatronLoginRequest{CardNumber: "B7002", Pin: pin}); err != nil {
		t.Errorf("login with the PIN: %v", err)
	}
}
