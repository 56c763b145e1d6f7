package patron

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/patronfed/patronfed/policy"
)

// SearchPlan is how a name search or listing evaluates the consent and
// loan parts of the visibility filter for the patrons it reads in result
// order. Both plans return the same rows in the same order; they differ in
// cost (docs/performance.md, section 3):
//
//   - PlanProbe probes two indexes per patron considered (a few µs each).
//     Cheap when the library sees many patrons: a page fills after a few
//     hundred patrons considered.
//   - PlanHashed reads the library's consents and active loans once into a
//     hash table (a fraction of a µs per row) and looks each patron up in
//     it. Cheap when the library sees few patrons: a page of a library that
//     sees 1.5 % of the patrons needs ~3 400 patrons considered, and the
//     library has only a few thousand consents and loans.
type SearchPlan int32

const (
	// PlanAuto chooses per library (choosePlan).
	PlanAuto SearchPlan = iota
	PlanProbe
	PlanHashed
)

func (p SearchPlan) String() string {
	switch p {
	case PlanAuto:
		return "auto"
	case PlanProbe:
		return "probe"
	case PlanHashed:
		return "hashed"
	}
	return "SearchPlan(" + strconv.Itoa(int(p)) + ")"
}

// ParseSearchPlan reads a plan's name ("auto", "probe" or "hashed"; ""
// is "auto").
func ParseSearchPlan(name string) (SearchPlan, bool) {
	if name == "" {
		return PlanAuto, true
	}
	for _, p := range []SearchPlan{PlanAuto, PlanProbe, PlanHashed} {
		if p.String() == name {
			return p, true
		}
	}
	return PlanAuto, false
}

// Searcher runs Search with a plan: PlanAuto chooses per library, from
// counts it caches (one Searcher per replica, so one cache); the others
// force that plan on every name search and listing (tests compare the
// plans; an operator can force one with PATRONFED_SEARCH_PLAN).
type Searcher struct {
	plan SearchPlan

	mu sync.Mutex
	// counts caches per library what choosePlan needs: the counts move
	// slowly, and a stale count can only make a search slower, never
	// different.
	counts map[string]visibleCount
}

// NewSearcher returns a Searcher that uses plan.
func NewSearcher(plan SearchPlan) *Searcher {
	return &Searcher{plan: plan, counts: map[string]visibleCount{}}
}

// Cost model of choosePlan, in units of one row read from an index into
// a hash table (~0.15 µs on the bench machine): a probe of the visibility
// filter is two index lookups (~3 µs each, so 40 units for both); the
// hashed plan reads the rows once and hashes them once per branch of the
// query that looks patrons up (two for one word): about 2 units a row.
//
// For a library whose home patrons, consents and active loans number v
// (nearly all distinct) among n patrons, filling a page of `page` rows
// means considering page·n/v patrons in name order; of those, the share
// consents+loans/v is not at home and costs a probe each. The hash table
// costs 2·(consents+loans). So hashing is cheaper when
// 2·s < 40·(page·n/v)·(s/v), i.e. v² < 20·page·n: below ~32 000 visible
// of 1 M patrons for a page of 51.
const (
	planCostRatio = 20
	// visibleCountCap bounds the count (and its cost: an index-only scan
	// of at most this many rows) of what a library sees; a library that
	// sees more is large for any page up to ~500 rows of 1 M patrons.
	visibleCountCap = 100_000
	visibleCountTTL = 10 * time.Minute
)

type visibleCount struct {
	visible, patrons int64
	at               time.Time
}

// visibleCountSQL counts (up to $2) the home patrons, consents and active
// loans of library $1 — index-only scans of patrons_home_library_idx,
// consents_library_idx and loans_active_lender_idx — and reads the
// planner's patron count.
const visibleCountSQL = `SELECT
	(SELECT count(*) FROM (
		SELECT FROM patrons WHERE home_library_id = $1::uuid
		UNION ALL SELECT FROM consents WHERE library_id = $1::uuid
		UNION ALL SELECT FROM loans WHERE lending_library_id = $1::uuid AND returned_at IS NULL AND patron_id IS NOT NULL
		LIMIT $2) v),
	(SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = 'patrons'::regclass)`

// choosePlan returns the plan for a name search or listing by s whose
// pages end at row page (limit+offset).
func (sr *Searcher) choosePlan(ctx context.Context, q Querier, s policy.Subject, page int) (SearchPlan, error) {
	// Only library staff see patrons through consents and loans.
	if s.Kind != policy.KindStaff || s.LibraryID == "" || !CanSeeAny(s) {
		return PlanProbe, nil
	}
	now := time.Now()
	sr.mu.Lock()
	c, ok := sr.counts[s.LibraryID]
	sr.mu.Unlock()
	if !ok || now.Sub(c.at) > visibleCountTTL {
		if err := q.QueryRow(ctx, visibleCountSQL, s.LibraryID, visibleCountCap).Scan(&c.visible, &c.patrons); err != nil {
			return PlanProbe, err
		}
		c.at = now
		sr.mu.Lock()
		if len(sr.counts) > 10_000 {
			clear(sr.counts)
		}
		sr.counts[s.LibraryID] = c
		sr.mu.Unlock()
	}
	if c.visible >= visibleCountCap {
		return PlanProbe, nil
	}
	// reltuples is unknown (0 here) before the first ANALYZE.
	n := float64(max(c.patrons, c.visible))
	v := float64(c.visible)
	if v*v < planCostRatio*float64(page)*n {
		return PlanHashed, nil
	}
	return PlanProbe, nil
}
