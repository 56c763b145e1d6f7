package patron_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/patronfed/patronfed/patron"
	"github.com/patronfed/patronfed/pgtest"
	"github.com/patronfed/patronfed/policy"
)

var allPermissions = []string{
	policy.PermPatronRead, policy.PermPatronWrite, policy.PermPatronIdentifiers, policy.PermPatronSpecialCategory,
	policy.PermConsentWrite, policy.PermLoanManage, policy.PermLibraryManage,
}

// world is random consortium data: libraries, patrons (some archived or
// anonymised), consents, and active and returned loans.
type world struct {
	libs, patrons []string
}

func randomWorld(t *testing.T, ctx context.Context, db *pgxpool.Pool, r *rand.Rand) world {
	t.Helper()
	var w world
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := db.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	for i := range 4 {
		var id string
		if err := db.QueryRow(ctx, `INSERT INTO libraries (code, name, country) VALUES ($1, $1, 'CZ') RETURNING id::text`,
			fmt.Sprintf("L%d", i)).Scan(&id); err != nil {
			t.Fatal(err)
		}
		w.libs = append(w.libs, id)
	}
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	for i := range 40 {
		home := w.libs[r.IntN(len(w.libs))]
		var archived, anonymised *time.Time
		switch x := r.Float64(); {
		case x < 0.15:
			archived = &now
		case x < 0.2:
			anonymised = &now
		}
		var id string
		if err := db.QueryRow(ctx, `INSERT INTO patrons (home_library_id, first_name, last_name, archived_at, anonymised_at)
			VALUES ($1, 'P', $2, $3, $4) RETURNING id::text`, home, fmt.Sprintf("N%03d", i), archived, anonymised).Scan(&id); err != nil {
			t.Fatal(err)
		}
		w.patrons = append(w.patrons, id)
		for j, lib := range w.libs {
			// Consent to the home library too, sometimes: it must not matter.
			if r.Float64() < 0.3 {
				exec(`INSERT INTO consents (patron_id, library_id, granted_at, method) VALUES ($1, $2, $3, 'web')`, id, lib, now)
			}
			switch x := r.Float64(); {
			case x < 0.2:
				exec(loanSQL, fmt.Sprintf("I%03d-%d-A", i, j), lib, id, now, nil)
			case x < 0.35:
				exec(loanSQL, fmt.Sprintf("I%03d-%d-R", i, j), lib, id, now, now.Add(time.Hour))
			}
		}
	}
	return w
}

// loanSQL inserts an item of library $2 and a loan of it to patron $3,
// returned at $5 (NULL: active).
const loanSQL = `WITH i AS (INSERT INTO items (barcode, title, owning_library_id, created_at, updated_at)
	VALUES ($1, 'T', $2, $4, $4) RETURNING id)
	INSERT INTO loans (item_id, patron_id, lending_library_id, checked_out_at, due_at, returned_at, return_library_id)
	SELECT i.id, $3, $2, $4, $4 + interval '28 days', $5::timestamptz, CASE WHEN $5::timestamptz IS NULL THEN NULL ELSE $2::uuid END FROM i`

func randomSubject(r *rand.Rand, w world) policy.Subject {
	var perms []string
	for _, p := range allPermissions {
		if r.Float64() < 0.4 {
			perms = append(perms, p)
		}
	}
	s := policy.Subject{AccountID: fmt.Sprintf("00000000-0000-4000-8000-%012d", r.IntN(1e6)), Permissions: perms}
	switch x := r.Float64(); {
	case x < 0.75:
		s.Kind = policy.KindStaff
		if r.Float64() < 0.95 {
			s.LibraryID = w.libs[r.IntN(len(w.libs))]
		}
	case x < 0.85:
		s.Kind = policy.KindOperator
	case x < 0.97:
		s.Kind = policy.KindPatron
		s.AccountID = w.patrons[r.IntN(len(w.patrons))]
		// A patron's principal carries no library for the policy, but
		// nothing may change if one slipped in.
		if r.Float64() < 0.5 {
			s.LibraryID = w.libs[r.IntN(len(w.libs))]
		}
	default:
		s.Kind = "robot"
		s.LibraryID = w.libs[r.IntN(len(w.libs))]
	}
	return s
}

// The SQL visibility filter that searches use and the built-in policy agree
// on every (subject, patron) pair of random data, in both of its plans
// (probing per patron, hashing the library's consents and loans): random
// libraries, homes, archived and anonymised accounts, consents (to the home
// library too), active and returned loans, and random subjects of every
// kind with random permissions.
func TestVisibilityMatchesPolicy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewPool(t)
	engine, err := policy.NewEngine(ctx, policy.Builtin())
	if err != nil {
		t.Fatal(err)
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, seed>>1))
	w := randomWorld(t, ctx, db, r)
	resources, err := patron.LoadResources(ctx, db, w.patrons)
	if err != nil || len(resources) != len(w.patrons) {
		t.Fatalf("resources: %d, %v", len(resources), err)
	}
	// Anonymised records belong to nobody: searches never show them,
	// whatever the policy would say of the empty shell.
	var anonymised []string
	rows, err := db.Query(ctx, `SELECT id::text FROM patrons WHERE anonymised_at IS NOT NULL`)
	if err != nil {
		t.Fatal(err)
	}
	if anonymised, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		t.Fatal(err)
	}
	allowedSome := 0
	for range 60 {
		s := randomSubject(r, w)
		var bySQL []string
		for i, plan := range plans {
			recs, err := patron.SearchWithPlan(ctx, db, s, patron.Query{Limit: 1000}, plan)
			if err != nil {
				t.Fatalf("search as %+v, plan %v: %v", s, plan, err)
			}
			// The same listing, in the same order, whatever the plan.
			if i > 0 && !slices.Equal(ids(recs), bySQL) {
				t.Fatalf("subject %+v: plan %v lists %v, plan %v %v", s, plan, ids(recs), plans[0], bySQL)
			}
			bySQL = ids(recs)
		}
		bySQL = slices.Clone(bySQL)
		var byPolicy []string
		for _, id := range w.patrons {
			d, err := engine.Decide(ctx, policy.Input{Subject: s, Action: policy.ActionPatronRead, Resource: resources[id]})
			if err != nil {
				t.Fatal(err)
			}
			if d.Allow && !slices.Contains(anonymised, id) {
				byPolicy = append(byPolicy, id)
			}
		}
		slices.Sort(bySQL)
		slices.Sort(byPolicy)
		if !slices.Equal(bySQL, byPolicy) {
			for _, id := range w.patrons {
				inSQL, inPolicy := slices.Contains(bySQL, id), slices.Contains(byPolicy, id)
				if inSQL != inPolicy {
					t.Errorf("subject %+v, patron %+v: SQL %v, policy %v", s, resources[id], inSQL, inPolicy)
				}
			}
			t.FailNow()
		}
		if len(byPolicy) > 0 {
			allowedSome++
		}
		if patron.CanSeeAny(s) != (len(bySQL) > 0) && len(bySQL) > 0 {
			t.Errorf("CanSeeAny(%+v) = false but the subject sees %d patrons", s, len(bySQL))
		}
	}
	// The data must exercise both outcomes.
	if allowedSome < 8 {
		t.Errorf("only %d of 60 subjects saw anyone: the random data is too thin", allowedSome)
	}
}
