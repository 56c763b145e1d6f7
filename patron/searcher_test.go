package patron_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/patronfed/patronfed/identity"
	"github.com/patronfed/patronfed/patron"
	"github.com/patronfed/patronfed/pgtest"
	"github.com/patronfed/patronfed/policy"
)

// recorder passes statements through and keeps their text.
type recorder struct {
	patron.Querier
	sql []string
}

func (r *recorder) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	r.sql = append(r.sql, sql)
	return r.Querier.Query(ctx, sql, args...)
}

func (r *recorder) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	r.sql = append(r.sql, sql)
	return r.Querier.QueryRow(ctx, sql, args...)
}

// A Searcher searches with its own plan (PATRONFED_SEARCH_PLAN), and a
// Searcher choosing per library counts each library once and then reuses
// the count: the cache belongs to the Searcher, not the package.
func TestSearcherUsesItsPlan(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewPool(t)
	var lib string
	if err := db.QueryRow(ctx, `INSERT INTO libraries (code, name, country) VALUES ('TST', 'Test', 'CZ') RETURNING id::text`).Scan(&lib); err != nil {
		t.Fatal(err)
	}
	s := policy.Subject{Kind: policy.KindStaff, AccountID: "00000000-0000-4000-8000-000000000001", LibraryID: lib,
		Permissions: identity.Permissions([]string{identity.RoleCirculation})}
	search := func(sr *patron.Searcher) []string {
		t.Helper()
		r := &recorder{Querier: db}
		if _, err := sr.Search(ctx, r, s, patron.Query{Name: "nov"}); err != nil {
			t.Fatal(err)
		}
		return r.sql
	}
	hashed := func(sql []string) bool {
		return strings.Contains(strings.Join(sql, "\n"), "AS MATERIALIZED")
	}
	if sql := search(patron.NewSearcher(patron.PlanHashed)); !hashed(sql) {
		t.Errorf("PlanHashed did not hash:\n%s", strings.Join(sql, "\n"))
	}
	if sql := search(patron.NewSearcher(patron.PlanProbe)); hashed(sql) {
		t.Errorf("PlanProbe hashed:\n%s", strings.Join(sql, "\n"))
	}

	counts := func(sql []string) (n int) {
		for _, q := range sql {
			if strings.Contains(q, "reltuples") {
				n++
			}
		}
		return n
	}
	auto := patron.NewSearcher(patron.PlanAuto)
	if n := counts(search(auto)); n != 1 {
		t.Errorf("first search of a library: %d counts, want 1", n)
	}
	if n := counts(search(auto)); n != 0 {
		t.Errorf("second search: %d counts, want the cached one", n)
	}
	if n := counts(search(patron.NewSearcher(patron.PlanAuto))); n != 1 {
		t.Errorf("another Searcher: %d counts, want 1 (its own cache)", n)
	}

	for name, want := range map[string]patron.SearchPlan{"": patron.PlanAuto, "auto": patron.PlanAuto, "probe": patron.PlanProbe, "hashed": patron.PlanHashed} {
		if got, ok := patron.ParseSearchPlan(name); !ok || got != want {
			t.Errorf("ParseSearchPlan(%q) = %v, %v", name, got, ok)
		}
	}
	if _, ok := patron.ParseSearchPlan("fast"); ok {
		t.Error(`ParseSearchPlan("fast") accepted`)
	}
}
