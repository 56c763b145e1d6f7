package patron_test

import (
	"cmp"
	"context"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patronfed/patronfed/patron"
	"github.com/patronfed/patronfed/pgtest"
)

// A name search (answered by branches per word and visibility part, merged
// in index order) returns exactly the page of the plain definition: the
// patrons the subject sees (the listing, TestVisibilityMatchesPolicy) whose
// first or last name every word starts, ordered by lower last name (NULL
// last), lower first name (NULL last) and id — on random data with short,
// overlapping, NULL and mixed-case names, for random subjects, queries of
// one to three words, limits and offsets.
func TestNameSearchMatchesFilter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewPool(t)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, seed>>2))
	w := randomWorld(t, ctx, db, r)
	names := []string{"Ab", "abc", "Abd", "B", "ba", "Bab", "c", "Ca", "AB", "bA"}
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
	words := []string{"a", "a", "b", "b", "ab", "abc", "ba", "c", "ca", "x", "a_", "%"}
	matches := func(rec patron.Record, q []string) bool {
		for _, w := range q {
			if !strings.HasPrefix(strings.ToLower(rec.FirstName), w) && !strings.HasPrefix(strings.ToLower(rec.LastName), w) {
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
	for range 150 {
		s := randomSubject(r, w)
		all, err := patron.Search(ctx, db, s, patron.Query{Limit: 10000})
		if err != nil {
			t.Fatal(err)
		}
		q := make([]string, 1+r.IntN(3)/2)
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
			return cmp.Or(nullsLast(strings.ToLower(ra.LastName), strings.ToLower(rb.LastName)),
				nullsLast(strings.ToLower(ra.FirstName), strings.ToLower(rb.FirstName)), strings.Compare(a, b))
		})
		limit, offset := 1+r.IntN(12), r.IntN(6)
		recs, err := patron.Search(ctx, db, s, patron.Query{Name: strings.Join(q, " "), Limit: limit, Offset: offset})
		if err != nil {
			t.Fatalf("search %q as %+v: %v", q, s, err)
		}
		var got []string
		for _, rec := range recs {
			got = append(got, rec.ID)
		}
		page := want[min(offset, len(want)):min(offset+limit, len(want))]
		if !slices.Equal(got, page) {
			t.Fatalf("subject %+v, words %q, limit %d, offset %d:\n got %v\nwant %v", s, q, limit, offset, got, page)
		}
		if len(page) > 0 {
			compared++
		}
	}
	if compared < 15 {
		t.Errorf("only %d of 150 searches found anyone: the random data is too thin", compared)
	}
}
