package patron_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/patronfed/patronfed/patron"
	"github.com/patronfed/patronfed/pgtest"
	"github.com/patronfed/patronfed/pii"
)

// BenchmarkLoadView reads one patron the way GetPatron does: the record
// with two cards, a consent, an active loan and two sealed identifiers,
// in one statement. allocs/op is what the read adds to the garbage
// collector's work on every GetPatron (docs/performance.md).
func BenchmarkLoadView(b *testing.B) {
	ctx, db, kr := benchDB(b)
	var home, other string
	if err := db.QueryRow(ctx, `WITH l AS (INSERT INTO libraries (code, name, country) VALUES ('BRNO', 'B', 'CZ'), ('SLAV', 'S', 'CZ') RETURNING id::text, code)
		SELECT (SELECT id FROM l WHERE code = 'BRNO'), (SELECT id FROM l WHERE code = 'SLAV')`).Scan(&home, &other); err != nil {
		b.Fatal(err)
	}
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	id, err := patron.Register(ctx, db, kr, &patron.Registration{HomeLibraryID: home, CardNumber: "B0100", OptionalDataConsent: true, At: at,
		Fields: patron.Fields{FirstName: "Jana", LastName: "Nováková", BirthDate: "1985-04-12", PermanentAddress: "Masarykova 12",
			ContactAddress: "Poštovní 1", Email: "jana@example.cz", Phone: "+420 601 000 000",
			NationalIDs: []patron.NationalID{{Kind: pii.KindPersonalIdentityNumber, Value: pii.NewRedacted("8504125555")}},
			IDDocument:  pii.NewRedacted("AB123456")}})
	if err != nil {
		b.Fatal(err)
	}
	for _, stmt := range []string{
		`INSERT INTO cards (card_number, patron_id, active, issued_at, revoked_at) VALUES ('B0099', $1, false, now() - interval '2 years', now() - interval '1 year')`,
		`INSERT INTO consents (patron_id, library_id, granted_at, method) VALUES ($1, '` + other + `', now(), 'web')`,
		`WITH i AS (INSERT INTO items (barcode, title, owning_library_id, created_at, updated_at) VALUES ('ITEM1', 'T', '` + other + `', now(), now()) RETURNING id)
		 INSERT INTO loans (item_id, patron_id, lending_library_id, checked_out_at, due_at) SELECT id, $1, '` + other + `', now(), now() + interval '28 days' FROM i`,
	} {
		if _, err := db.Exec(ctx, stmt, id); err != nil {
			b.Fatalf("%s: %v", stmt, err)
		}
	}
	v, err := patron.LoadView(ctx, db, id)
	if err != nil || len(v.Record.Cards) != 2 || len(v.Resource.ConsentLibraryIDs) != 1 || len(v.Resource.ActiveLoanLibraryIDs) != 1 {
		b.Fatalf("view %+v, %v", v, err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := patron.LoadView(ctx, db, id); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkResourceAndContact reads what a desk's read of one patron's
// loans or holds decides on and shows (docs/performance.md, optimisation
// 28): the resource and the contact apart, two statements, as before, and
// together in one.
func BenchmarkResourceAndContact(b *testing.B) {
	ctx, db, kr := benchDB(b)
	var home string
	if err := db.QueryRow(ctx, `INSERT INTO libraries (code, name, country) VALUES ('BRNO', 'B', 'CZ') RETURNING id::text`).Scan(&home); err != nil {
		b.Fatal(err)
	}
	id, err := patron.Register(ctx, db, kr, &patron.Registration{HomeLibraryID: home, CardNumber: "B0100", OptionalDataConsent: true,
		At: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC), Fields: patron.Fields{FirstName: "Jana", LastName: "Nováková",
			BirthDate: "1985-04-12", PermanentAddress: "Masarykova 12", Email: "jana@example.cz"}})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("apart", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := patron.LoadResource(ctx, db, id); err != nil {
				b.Fatal(err)
			}
			if _, err := patron.LoanContact(ctx, db, id); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("together", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := patron.LoadResourceAndContact(ctx, db, id); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// benchDB is a database of its own and a fresh keyring for a benchmark.
func benchDB(b *testing.B) (context.Context, *pgxpool.Pool, *pii.Keyring) {
	b.Helper()
	enc, idx := pii.GenerateKeyringSpec()
	kr, err := pii.ParseKeyring(enc, idx)
	if err != nil {
		b.Fatal(err)
	}
	return context.Background(), pgtest.NewPool(b), kr
}
