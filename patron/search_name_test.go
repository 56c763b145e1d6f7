package patron_test

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/patronfed/patronfed/identity"
	"github.com/patronfed/patronfed/patron"
	"github.com/patronfed/patronfed/pgtest"
	"github.com/patronfed/patronfed/policy"
)

// plans are the ways a name search or listing may evaluate the visibility
// filter; every one must return the same page.
var plans = []patron.SearchPlan{patron.PlanAuto, patron.PlanProbe, patron.PlanHashed}

// A name search (answered by branches per word, merged in index order)
// returns exactly the page of the plain definition, in both plans: the
// patrons the subject sees (the listing, TestVisibilityMatchesPolicy) the
// key (NameKey) of whose first or last name every word's key starts,
// ordered by the key of the last name (NULL last), of the first name (NULL
// last), in byte order, and id — on random data with short, overlapping,
// NULL, mixed-case and accented names, for random subjects, queries of one
// to three words (prefixes of each other, of one name, of none, with and
// without diacritics), limits and offsets.
func TestNameSearchMatchesFilter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewPool(t)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, seed>>2))
	w := randomWorld(t, ctx, db, r)
	names := []string{"Ab", "abc", "Abd", "B", "ba", "Bab", "c", "Ca", "AB", "bA", "čáp", "ča", "Čapek", "Abč", "ČÁP", "Cáb", "aß", "ABŠ"}
	name := func() *string {
		if r.IntN(8) == 0 {
			return nil
		}
		n := names[r.IntN(len(names))]
		return &n
	}
	for _, id := range w.patrons {
		if _, err := db.Exec(ctx, `UPDATE patrons SET first_name = $2, last_name = $3 WHERE id = $1`, id, name(), name()); err != nil {
			t.Fatal(err)
		}
	}
	words := []string{"a", "a", "b", "b", "ab", "abc", "abd", "ba", "bab", "c", "ca", "x", "a_", "%", "č", "ča", "čáp", "abč",
		"CAP", "Čá", "ass", "aß", "abs", "c\u030c"}
	matches := func(rec patron.Record, q []string) bool {
		for _, w := range strings.Fields(patron.NameKey(strings.Join(q, " "))) {
			if !strings.HasPrefix(patron.NameKey(rec.FirstName), w) && !strings.HasPrefix(patron.NameKey(rec.LastName), w) {
				return false
			}
		}
		return true
	}
	// NULL names are read as "" (no name is empty: CHECK), and sort last.
	nullsLast := func(a, b string) int {
		switch {
		case a == b:
			return 0
		case a == "":
			return 1
		case b == "":
			return -1
		}
		return strings.Compare(a, b)
	}
	compared := 0
	for range 250 {
		s := randomSubject(r, w)
		all, err := patron.SearchWithPlan(ctx, db, s, patron.Query{Limit: 10000}, patron.PlanProbe)
		if err != nil {
			t.Fatal(err)
		}
		q := make([]string, []int{1, 1, 1, 2, 2, 3}[r.IntN(6)])
		for i := range q {
			q[i] = words[r.IntN(len(words))]
		}
		var want []string
		for _, rec := range all {
			if matches(rec, q) {
				want = append(want, rec.ID)
			}
		}
		byID := map[string]patron.Record{}
		for _, rec := range all {
			byID[rec.ID] = rec
		}
		slices.SortFunc(want, func(a, b string) int {
			ra, rb := byID[a], byID[b]
			return cmp.Or(nullsLast(patron.NameKey(ra.LastName), patron.NameKey(rb.LastName)),
				nullsLast(patron.NameKey(ra.FirstName), patron.NameKey(rb.FirstName)), strings.Compare(a, b))
		})
		limit, offset := 1+r.IntN(12), r.IntN(6)
		page := want[min(offset, len(want)):min(offset+limit, len(want))]
		for _, plan := range plans {
			recs, err := patron.SearchWithPlan(ctx, db, s, patron.Query{Name: strings.Join(q, " "), Limit: limit, Offset: offset}, plan)
			if err != nil {
				t.Fatalf("search %q as %+v, plan %v: %v", q, s, plan, err)
			}
			if got := ids(recs); !slices.Equal(got, page) {
				t.Fatalf("plan %v, subject %+v, words %q, limit %d, offset %d:\n got %v\nwant %v", plan, s, q, limit, offset, got, page)
			}
		}
		if len(page) > 0 {
			compared++
		}
	}
	if compared < 20 {
		t.Errorf("only %d of 250 searches found anyone: the random data is too thin", compared)
	}
}

func ids(recs []patron.Record) []string {
	var out []string
	for _, rec := range recs {
		out = append(out, rec.ID)
	}
	return out
}

// Both plans return exactly the page of the plain query — the visibility
// rule written out with EXISTS, each word starting the first or the last
// name, ORDER BY ... LIMIT ... OFFSET — for name searches and listings by
// staff of a large library (70 % of the patrons at home, many consents and
// loans) and of a small one (1 %), on 3 000 random patrons with colliding
// names; and PlanAuto chooses probing for the large library, hashing for
// the small one.
func TestNameSearchPlansMatchPlainQuery(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewPool(t)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, seed>>3))
	big, small, other := library(t, db, "BIG"), library(t, db, "SMALL"), library(t, db, "OTHER")
	firsts := []string{"Jana", "Jan", "jaroslav", "Marie", "Martin", "Vladimír", "Věra", "Eva", "Karel", "Kristýna", "Ja", "M", "Šárka", "Řehoř"}
	lasts := []string{"Novák", "Nováková", "nov", "Svoboda", "Dvořák", "Kratochvíl", "Veselý", "Janda", "Marek", "Ibl", "N", "Evanová", "Čermák", "Šťastný"}
	const n = 3000
	var home, first, last []*string
	var archived, anonymised []*time.Time
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	pick := func(list []string) *string {
		if r.IntN(20) == 0 {
			return nil
		}
		s := list[r.IntN(len(list))]
		switch r.IntN(5) {
		case 0:
			_, n := utf8.DecodeRuneInString(s)
			s = strings.ToUpper(s[:n]) + s[n:]
		case 1:
			s = strings.ToLower(s)
		case 2:
			s = strings.ToUpper(s)
		}
		return &s
	}
	for range n {
		lib := other
		switch x := r.Float64(); {
		case x < 0.7:
			lib = big
		case x < 0.71:
			lib = small
		}
		home = append(home, &lib)
		first, last = append(first, pick(firsts)), append(last, pick(lasts))
		var ar, an *time.Time
		switch x := r.Float64(); {
		case x < 0.05:
			ar = &now
		case x < 0.07:
			an = &now
		}
		archived, anonymised = append(archived, ar), append(anonymised, an)
	}
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := db.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec(`INSERT INTO patrons (home_library_id, first_name, last_name, archived_at, anonymised_at)
		SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[])`,
		home, first, last, archived, anonymised)
	// Consents: 20 % of the patrons to the large library, 2 % to the
	// small one (home patrons included: it must not matter).
	exec(`INSERT INTO consents (patron_id, library_id, granted_at, method)
		SELECT id, $1::uuid, $3::timestamptz, 'web' FROM patrons WHERE random() < 0.2
		UNION ALL SELECT id, $2::uuid, $3, 'web' FROM patrons WHERE random() < 0.02`, big, small, now)
	// Loans at both libraries, active and returned, some patrons with two.
	exec(`WITH b AS (SELECT 'IT' || lpad((row_number() OVER ())::text, 6, '0') AS barcode, * FROM (
			SELECT id, CASE WHEN random() < 0.8 THEN $1::uuid ELSE $2::uuid END AS lib, random() < 0.6 AS active
			FROM patrons, generate_series(1, 2) WHERE random() < 0.1) x),
		i AS (INSERT INTO items (barcode, title, owning_library_id, created_at, updated_at)
			SELECT barcode, 'T', lib, $3, $3 FROM b RETURNING id, barcode)
		INSERT INTO loans (item_id, patron_id, lending_library_id, checked_out_at, due_at, returned_at, return_library_id)
		SELECT i.id, b.id, b.lib, $3, $3 + interval '28 days', CASE WHEN b.active THEN NULL ELSE $3 + interval '1 day' END,
			CASE WHEN b.active THEN NULL ELSE b.lib END
		FROM b JOIN i USING (barcode)`, big, small, now)
	exec(`ANALYZE`)
	subject := func(lib string) policy.Subject {
		return policy.Subject{Kind: policy.KindStaff, AccountID: "00000000-0000-4000-8000-000000000001", LibraryID: lib,
			Permissions: identity.Permissions([]string{identity.RoleCirculation})}
	}
	for lib, want := range map[string]patron.SearchPlan{big: patron.PlanProbe, small: patron.PlanHashed} {
		got, err := patron.ChoosePlan(ctx, db, subject(lib), 51)
		if err != nil || got != want {
			t.Errorf("plan for library %s: %v, %v; want %v", lib, got, err, want)
		}
	}
	words := []string{"ja", "jan", "j", "nov", "n", "nová", "mar", "m", "marek", "vě", "v", "eva", "k", "kr", "ibl", "x", "jana",
		"NOVA", "ve", "dvoř", "DVOR", "čer", "Cer", "šá", "sa", "s", "reh", "ŠŤ", "stastny"}
	found := 0
	for i := range 160 {
		lib := big
		if i%2 == 1 {
			lib = small
		}
		q := make([]string, r.IntN(4))
		for i := range q {
			q[i] = words[r.IntN(len(words))]
		}
		limit, offset := 1+r.IntN(60), r.IntN(40)
		if r.IntN(4) == 0 {
			offset = r.IntN(400)
		}
		want := plainSearch(t, ctx, db, lib, q, limit, offset)
		for _, plan := range plans {
			recs, err := patron.SearchWithPlan(ctx, db, subject(lib), patron.Query{Name: strings.Join(q, " "), Limit: limit, Offset: offset}, plan)
			if err != nil {
				t.Fatalf("plan %v, words %q: %v", plan, q, err)
			}
			if got := ids(recs); !slices.Equal(got, want) {
				t.Fatalf("plan %v, library %s, words %q, limit %d, offset %d:\n got %v\nwant %v", plan, lib, q, limit, offset, got, want)
			}
		}
		if len(want) > 0 {
			found++
		}
	}
	if found < 50 {
		t.Errorf("only %d of 160 searches found anyone: the random data is too thin", found)
	}
}

// plainSearch is the definition of a search by circulation staff of lib,
// written without any of Search's devices (and with the words' keys from
// SQL, not from Go).
func plainSearch(t *testing.T, ctx context.Context, db *pgxpool.Pool, lib string, words []string, limit, offset int) []string {
	t.Helper()
	args := []any{lib, limit, offset}
	cond := ""
	for _, w := range words {
		args = append(args, strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(w))
		cond += fmt.Sprintf(` AND (patron_name_key(p.first_name COLLATE "C") LIKE patron_name_key($%d) || '%%'`+
			` OR patron_name_key(p.last_name COLLATE "C") LIKE patron_name_key($%d) || '%%')`, len(args), len(args))
	}
	rows, err := db.Query(ctx, `SELECT p.id::text FROM patrons p
		WHERE p.anonymised_at IS NULL
		AND (p.home_library_id = $1 OR (p.archived_at IS NULL AND (
			EXISTS (SELECT FROM consents c WHERE c.patron_id = p.id AND c.library_id = $1) OR
			EXISTS (SELECT FROM loans l WHERE l.patron_id = p.id AND l.lending_library_id = $1 AND l.returned_at IS NULL))))`+cond+`
		ORDER BY patron_name_key(p.last_name COLLATE "C") NULLS LAST, patron_name_key(p.first_name COLLATE "C") NULLS LAST, p.id
		LIMIT $2 OFFSET $3`, args...)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A name search ignores case and diacritics, in the query and in the
// stored names (composed or not), for last and first names, through every
// plan, and orders by the keys: "čermák", "ČERMÁK" and "cermak" find
// "Čermák", "sar" finds Šárka.
func TestNameSearchFoldsCaseAndDiacritics(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewPool(t)
	lib := library(t, db, "FOLD")
	id := map[string]string{}
	for _, n := range [][2]string{
		{"Čermák", "Jan"}, {"ČERMÁKOVÁ", "Marie"}, {"Šťastný", "Řehoř"}, {"Novák", "Šárka"}, {"Straße", "Jürgen"},
		{"C\u030cerma\u0301k", "Petr"}, {"Cerman", "Eva"}, {"Svoboda", "Šimon"}, {"Øster", "Åse"},
	} {
		var pid string
		if err := db.QueryRow(ctx, `INSERT INTO patrons (home_library_id, first_name, last_name) VALUES ($1, $2, $3) RETURNING id::text`,
			lib, n[1], n[0]).Scan(&pid); err != nil {
			t.Fatal(err)
		}
		id[n[1]] = pid
	}
	s := policy.Subject{Kind: policy.KindStaff, AccountID: "00000000-0000-4000-8000-000000000001", LibraryID: lib,
		Permissions: identity.Permissions([]string{identity.RoleCirculation})}
	for _, tc := range []struct {
		queries []string
		want    []string // first names, in result order
	}{
		{[]string{"čermák", "ČERMÁK", "cermak", "Čermák", "c\u030cerma\u0301k"}, []string{"Jan", "Petr", "Marie"}},
		{[]string{"Cer", "cer", "ČER", "če"}, []string{"Jan", "Petr", "Marie", "Eva"}},
		{[]string{"čermáková", "CERMAKOVA marie", "MARIE čermák"}, []string{"Marie"}},
		{[]string{"šťastný řehoř", "ŠŤASTNÝ ŘEHOŘ", "stastny rehor", "Řehoř Šťastný", "rehor", "šťa"}, []string{"Řehoř"}},
		{[]string{"sar", "Šár", "ŠÁRKA", "sarka novak", "novak"}, []string{"Šárka"}},
		{[]string{"straße", "strasse", "STRASSE", "strass", "jurgen", "JÜRGEN straße"}, []string{"Jürgen"}},
		{[]string{"oster", "ØSTER", "ase", "Åse øster"}, []string{"Åse"}},
		{[]string{"s"}, []string{"Šárka", "Řehoř", "Jürgen", "Šimon"}},
		{[]string{"šimon", "simon svoboda"}, []string{"Šimon"}},
		{[]string{"cermak rehor", "čř", "x"}, nil},
	} {
		var want []string
		for _, n := range tc.want {
			want = append(want, id[n])
		}
		for _, q := range tc.queries {
			for _, plan := range plans {
				recs, err := patron.SearchWithPlan(ctx, db, s, patron.Query{Name: q}, plan)
				if err != nil {
					t.Fatalf("%q, plan %v: %v", q, plan, err)
				}
				if got := ids(recs); !slices.Equal(got, want) {
					var names []string
					for _, rec := range recs {
						names = append(names, rec.LastName+" "+rec.FirstName)
					}
					t.Errorf("%q, plan %v: got %q, want %q", q, plan, names, tc.want)
				}
			}
		}
	}
}

// A name search reads both name indexes (migration 00010) as ordered
// ranges of keys — LIKE 'prefix%' as an index condition, no sort — and
// stops after a page, on 4 000 patrons of whom a prefix selects up to a
// quarter, in a database whose collation is C (as pglocal
// creates them) and in one whose collation is not (under which LIKE on a
// column of the default collation is no range).
func TestNameSearchUsesKeyIndexes(t *testing.T) {
	t.Parallel()
	for name, db := range map[string]func(*testing.T) *pgxpool.Pool{"C": func(t *testing.T) *pgxpool.Pool { return pgtest.NewPool(t) }, "not C": notCDB} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			pool := db(t)
			lib, other := library(t, pool, "BIG"), library(t, pool, "OTHER")
			if _, err := pool.Exec(ctx, `
				WITH f AS (SELECT '{Jan,Petr,Jana,Marie,Eva,Kristýna,Šárka,Řehoř,Karel,Věra}'::text[] a),
				     l AS (SELECT '{Novák,Nováková,NOVOTNÝ,Svoboda,Dvořák,Černý,Čermák,Král,Kříž,Kratochvíl,Šťastný,Říha,Veselý}'::text[] a)
				INSERT INTO patrons (home_library_id, first_name, last_name)
				SELECT CASE WHEN i % 10 < 7 THEN $1::uuid ELSE $2::uuid END, f.a[1 + i % 10], l.a[1 + (i / 10) % 13]
				FROM f, l, generate_series(1, 4000) i`, lib, other); err != nil {
				t.Fatal(err)
			}
			if _, err := pool.Exec(ctx, `VACUUM ANALYZE patrons`); err != nil {
				t.Fatal(err)
			}
			s := policy.Subject{Kind: policy.KindStaff, AccountID: "00000000-0000-4000-8000-000000000001", LibraryID: lib,
				Permissions: identity.Permissions([]string{identity.RoleCirculation})}
			for _, q := range []string{"nov", "kr", "ČER"} {
				plan, err := patron.ExplainSearch(ctx, pool, s, patron.Query{Name: q, Limit: 20}, patron.PlanProbe)
				if err != nil {
					t.Fatal(err)
				}
				text := strings.Join(plan, "\n")
				key := patron.NameKey(q)
				for _, want := range []string{
					"Index Only Scan using patrons_name_order_idx",
					"Index Only Scan using patrons_first_name_order_idx",
					">= '" + key + "'::text",
				} {
					if !strings.Contains(text, want) {
						t.Errorf("%q: no %q in the plan:\n%s", q, want, text)
					}
				}
				// The page of at most 20 rows may be sorted once joined
				// back to the patrons; the branches must not sort.
				for i, line := range plan {
					if strings.Contains(line, "Sort (") && (i+1 == len(plan) || !strings.Contains(plan[i+1], "Sort Key: page.lk")) ||
						strings.Contains(line, "Bitmap Heap Scan on patrons p_") || strings.Contains(line, "Seq Scan on patrons p_") {
						t.Errorf("%q: a branch reads more than a page:\n%s", q, text)
						break
					}
				}
			}
		})
	}
}
