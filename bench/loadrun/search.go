package main

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/patronfed/patronfed/identity"
	"github.com/patronfed/patronfed/patron"
	"github.com/patronfed/patronfed/policy"
	"github.com/patronfed/patronfed/store"
)

// capture records the SQL of queries run on a context marked with
// captureKey, to EXPLAIN exactly what patron.Search sends.
type capture struct {
	mu   sync.Mutex
	sql  []string
	args [][]any
}

type captureKey struct{}

func (c *capture) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	if ctx.Value(captureKey{}) != nil {
		c.mu.Lock()
		c.sql, c.args = append(c.sql, d.SQL), append(c.args, d.Args)
		c.mu.Unlock()
	}
	return ctx
}

func (c *capture) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// tracedPool connects as patronfed_app with tr recording the statements
// of contexts marked with captureKey.
func (h *harness) tracedPool(tr *capture, conns int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(h.url)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = conns
	cfg.ConnConfig.Tracer = tr
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, `SET ROLE patronfed_app`)
		return err
	}
	return pgxpool.NewWithConfig(h.ctx, cfg)
}

var snapshot = pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}

type searchCase struct {
	Library, Kind          string
	Consents, HomePatrons  int
	SQLp50, SQLp99         time.Duration
	SearchP50, SearchP99   time.Duration // patron.Search alone: no resources, no decisions
	Worst                  []string      // name prefix: the slowest inputs of patron.Search, slowest first
	NaiveP50, NaiveP99     time.Duration
	SQLRuns, NaiveRuns     int
	SQLHits, NaiveHits     float64 // mean hits per search
	NaiveFetched           float64 // mean rows fetched and decided per naive search
	SpeedupP50, SpeedupP99 float64
	// The naive way without the early stop: every matching patron fetched
	// and decided, then the first page kept (fetch-then-filter as written).
	AllP50, AllP99               time.Duration
	AllRuns                      int
	AllFetched                   float64
	AllSpeedupP50, AllSpeedupP99 float64
	// Paired with the fetch-all runs: the SQL side's p50 over the same
	// searches, and the median of the per-search speed-ups, each run of
	// the fetch-all side against the median of the SQL side's runs of the
	// same input. The columns above compare the fetch-all side's first
	// few runs (its time budget) with all of the SQL side's, and the
	// prefixes' match counts differ by orders of magnitude.
	AllPairedSQLp50     time.Duration
	AllPairedSpeedupP50 float64
}

// searcher runs "patrons I may see" both ways for one staff subject.
type searcher struct {
	db     *pgxpool.Pool
	engine *policy.Engine
	subj   policy.Subject
	// search is shared by every searcher of a run, as by a server's calls.
	search *patron.Searcher
}

const pageSize = 50

// viaSQL is what SearchPatrons does inside its snapshot (audit and
// rendering aside): the visibility filter in SQL, then the policy decides
// each hit of the page.
func (s *searcher) viaSQL(ctx context.Context, q patron.Query) (int, time.Duration, error) {
	allowed := 0
	var search time.Duration
	err := store.InTx(ctx, s.db, snapshot, func(tx pgx.Tx) error {
		allowed = 0
		q.Limit = pageSize + 1
		t := time.Now()
		recs, err := s.search.Search(ctx, tx, s.subj, q)
		search = time.Since(t)
		if err != nil {
			return err
		}
		ids := make([]string, len(recs))
		for i := range recs {
			ids[i] = recs[i].ID
		}
		res, err := patron.LoadResources(ctx, tx, ids)
		if err != nil {
			return err
		}
		for _, id := range ids {
			d, err := s.engine.Decide(ctx, policy.Input{Subject: s.subj, Action: policy.ActionPatronRead, Resource: res[id]})
			if err != nil {
				return err
			}
			if d.Allow {
				allowed++
			}
		}
		return nil
	})
	return allowed, search, err
}

// naive fetches the patrons matching the criteria in result order, without
// the visibility filter, and lets the policy filter them in Go, 500 at a
// time, until a page is full (with stopAtPage, the naive approach at its
// best) or every match is decided (fetch-then-filter as written); then it
// loads the page's records.
func (s *searcher) naive(ctx context.Context, q patron.Query, stopAtPage bool) (allowed, fetched int, err error) {
	where, args := criteria(q)
	err = store.InTx(ctx, s.db, snapshot, func(tx pgx.Tx) error {
		allowed, fetched = 0, 0
		if _, err := tx.Exec(ctx, `DECLARE c NO SCROLL CURSOR FOR SELECT p.id::text FROM patrons p WHERE `+where+
			` ORDER BY `+lastKey+` NULLS LAST, `+firstKey+` NULLS LAST, p.id`, args...); err != nil {
			return err
		}
		var page []string
		for !stopAtPage || len(page) <= pageSize {
			rows, err := tx.Query(ctx, `FETCH 500 FROM c`)
			if err != nil {
				return err
			}
			ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return err
			}
			if len(ids) == 0 {
				break
			}
			fetched += len(ids)
			res, err := patron.LoadResources(ctx, tx, ids)
			if err != nil {
				return err
			}
			for _, id := range ids {
				d, err := s.engine.Decide(ctx, policy.Input{Subject: s.subj, Action: policy.ActionPatronRead, Resource: res[id]})
				if err != nil {
					return err
				}
				if d.Allow && len(page) <= pageSize {
					page = append(page, id)
				}
			}
		}
		allowed = len(page)
		rows, err := tx.Query(ctx, `SELECT p.*, (SELECT array_agg(card_number) FROM cards WHERE patron_id = p.id) FROM patrons p WHERE p.id = ANY($1::uuid[])`, page)
		if err != nil {
			return err
		}
		rows.Close()
		return rows.Err()
	})
	return allowed, fetched, err
}

// The name keys as patron.Search matches and orders them (migration 00010).
const (
	lastKey  = `patron_name_key(p.last_name COLLATE "C")`
	firstKey = `patron_name_key(p.first_name COLLATE "C")`
)

// criteria is the search part of patron.Search's WHERE clause (anonymised
// records are never searched).
func criteria(q patron.Query) (string, []any) {
	where := []string{"p.anonymised_at IS NULL"}
	var args []any
	add := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	for _, w := range strings.Fields(patron.NameKey(q.Name)) {
		p := add(strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(w) + "%")
		where = append(where, "("+firstKey+" LIKE "+p+" OR "+lastKey+" LIKE "+p+")")
	}
	if q.BirthDate != "" {
		where = append(where, "p.birth_date = "+add(q.BirthDate)+"::date")
	}
	return strings.Join(where, " AND "), args
}

var namePrefixes = []string{"nov", "svob", "dvo", "proch", "ver", "hor", "mar", "pok", "kr", "jan nov",
	"petr svo", "eva n", "zel", "ibl", "bar", "ja", "mart", "kop", "hol", "vl"}

func (h *harness) search() error {
	tr := &capture{}
	db, err := h.tracedPool(tr, 4)
	if err != nil {
		return err
	}
	defer db.Close()
	engine, err := policy.NewEngine(h.ctx, policy.Builtin())
	if err != nil {
		return err
	}
	// Birth dates that exist, spread over the years.
	rows, err := db.Query(h.ctx, `SELECT to_char(birth_date, 'YYYY-MM-DD') FROM patrons TABLESAMPLE SYSTEM (1) WHERE birth_date IS NOT NULL LIMIT 300`)
	if err != nil {
		return err
	}
	dates, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	libs := []string{"LIB01", fmt.Sprintf("LIB%02d", h.f.libraries)}
	search := patron.NewSearcher(patron.PlanAuto)
	const runs = 200
	budget := 20 * time.Second // per case, for the naive side
	var cases []searchCase
	explains := map[string]string{}
	var explainOrder []string
	for _, code := range libs {
		lib, err := h.libraryID(db, code)
		if err != nil {
			return err
		}
		sc := searchCase{Library: code}
		if err := db.QueryRow(h.ctx, `SELECT (SELECT count(*) FROM consents WHERE library_id = $1),
			(SELECT count(*) FROM patrons WHERE home_library_id = $1)`, lib).Scan(&sc.Consents, &sc.HomePatrons); err != nil {
			return err
		}
		s := &searcher{db: db, engine: engine, search: search, subj: policy.Subject{Kind: policy.KindStaff, AccountID: "00000000-0000-4000-8000-00000000beef",
			LibraryID: lib, Permissions: identity.Permissions([]string{identity.RoleCirculation})}}
		for _, kind := range []string{"name prefix", "birth date"} {
			c := sc
			c.Kind = kind
			query := func(i int) patron.Query {
				if kind == "birth date" {
					return patron.Query{BirthDate: dates[i%len(dates)]}
				}
				return patron.Query{Name: namePrefixes[i%len(namePrefixes)]}
			}
			var sqlLat, searchLat, naiveLat, allLat latencies
			var sqlHits, naiveHits, fetched, allFetched int
			// The SQL side's latencies per input, and the fetch-all side's
			// runs: its input and time.
			sqlBy := map[string]latencies{} // by name or birth date
			type allRun struct {
				key string
				d   time.Duration
			}
			var allRuns []allRun
			naiveSpent, allSpent := time.Duration(0), time.Duration(0)
			slowest := map[string]time.Duration{}
			order := rand.Perm(runs)
			for _, i := range order {
				q := query(i)
				t := time.Now()
				n, d, err := s.viaSQL(h.ctx, q)
				if err != nil {
					return err
				}
				sqlLat = append(sqlLat, time.Since(t))
				sqlBy[q.Name+q.BirthDate] = append(sqlBy[q.Name+q.BirthDate], sqlLat[len(sqlLat)-1])
				searchLat = append(searchLat, d)
				if kind == "name prefix" {
					slowest[q.Name] = max(slowest[q.Name], d)
				}
				sqlHits += n
				// Each naive form within its own time budget per case.
				for _, v := range []struct {
					stop          bool
					spent         *time.Duration
					lat           *latencies
					hits, fetched *int
				}{{true, &naiveSpent, &naiveLat, &naiveHits, &fetched}, {false, &allSpent, &allLat, new(int), &allFetched}} {
					if *v.spent >= budget {
						continue
					}
					t = time.Now()
					n, f, err := s.naive(h.ctx, q, v.stop)
					if err != nil {
						return err
					}
					d := time.Since(t)
					if !v.stop {
						allRuns = append(allRuns, allRun{q.Name + q.BirthDate, d})
					}
					*v.spent += d
					*v.lat = append(*v.lat, d)
					*v.hits += n
					*v.fetched += f
				}
			}
			c.SQLRuns, c.NaiveRuns = len(sqlLat), len(naiveLat)
			c.SQLp50, c.SQLp99 = sqlLat.pct(50), sqlLat.pct(99)
			c.SearchP50, c.SearchP99 = searchLat.pct(50), searchLat.pct(99)
			for name := range slowest {
				c.Worst = append(c.Worst, name)
			}
			slices.SortFunc(c.Worst, func(a, b string) int { return cmp.Compare(slowest[b], slowest[a]) })
			c.NaiveP50, c.NaiveP99 = naiveLat.pct(50), naiveLat.pct(99)
			c.SQLHits = float64(sqlHits) / float64(max(1, len(sqlLat)))
			c.NaiveHits = float64(naiveHits) / float64(max(1, len(naiveLat)))
			c.NaiveFetched = float64(fetched) / float64(max(1, len(naiveLat)))
			c.SpeedupP50 = float64(c.NaiveP50) / float64(max(1, c.SQLp50))
			c.SpeedupP99 = float64(c.NaiveP99) / float64(max(1, c.SQLp99))
			c.AllRuns = len(allLat)
			c.AllP50, c.AllP99 = allLat.pct(50), allLat.pct(99)
			c.AllFetched = float64(allFetched) / float64(max(1, len(allLat)))
			c.AllSpeedupP50 = float64(c.AllP50) / float64(max(1, c.SQLp50))
			c.AllSpeedupP99 = float64(c.AllP99) / float64(max(1, c.SQLp99))
			var pairedSQL latencies
			var pairedSpeedup []float64
			for _, r := range allRuns {
				dSQL := sqlBy[r.key].pct(50)
				pairedSQL = append(pairedSQL, dSQL)
				pairedSpeedup = append(pairedSpeedup, float64(r.d)/float64(max(1, dSQL)))
			}
			c.AllPairedSQLp50 = pairedSQL.pct(50)
			if len(pairedSpeedup) > 0 {
				slices.Sort(pairedSpeedup)
				c.AllPairedSpeedupP50 = pairedSpeedup[len(pairedSpeedup)/2]
			}
			cases = append(cases, c)
			// EXPLAIN the search query of a typical input, and of the two
			// slowest name searches.
			q := query(0)
			if kind == "name prefix" {
				q = patron.Query{Name: "nov"}
			}
			plan, err := h.explain(db, tr, s, q)
			if err != nil {
				return err
			}
			explains[code+" "+kind] = plan
			for _, name := range c.Worst[:min(2, len(c.Worst))] {
				plan, err := h.explain(db, tr, s, patron.Query{Name: name})
				if err != nil {
					return err
				}
				key := fmt.Sprintf("%s %s %q (slowest: %s)", code, kind, name, ms(slowest[name]))
				explains[key] = plan
				explainOrder = append(explainOrder, key)
			}
		}
	}
	// A phase list may search several times (e.g. before and after a
	// restart): search, search_2, ...
	h.searches++
	key := "search"
	if h.searches > 1 {
		key = fmt.Sprintf("search_%d", h.searches)
	}
	h.results[key] = cases
	fmt.Fprintf(h.md, "## Search \"patrons I may see\" (%d patrons)\n\n", h.f.patrons)
	fmt.Fprintf(h.md, "SQL: patron.Search (visibility filter in SQL) + LoadResources + policy per hit, in the read-only snapshot. Naive: fetch the matching patrons in order (cursor, 500 a time), load resources, policy-filter in Go until a page of %d is full, then load the page. %d searches per case, naive at most %s per case; name prefixes %v; birth dates sampled from the data.\n\n", pageSize, runs, budget, namePrefixes)
	fmt.Fprintf(h.md, "| library | consents to it | own patrons | search | SQL p50 | SQL p99 | patron.Search p50 | patron.Search p99 | naive p50 | naive p99 | naive runs | rows the naive way decides | hits | speed-up p50 | speed-up p99 |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, c := range cases {
		fmt.Fprintf(h.md, "| %s | %d | %d | %s | %s | %s | %s | %s | %s | %s | %d | %.0f | %.1f | %.0f× | %.0f× |\n", c.Library, c.Consents, c.HomePatrons, c.Kind,
			ms(c.SQLp50), ms(c.SQLp99), ms(c.SearchP50), ms(c.SearchP99), ms(c.NaiveP50), ms(c.NaiveP99), c.NaiveRuns, c.NaiveFetched, c.SQLHits, c.SpeedupP50, c.SpeedupP99)
	}
	fmt.Fprintln(h.md)
	fmt.Fprintf(h.md, "Fetch-then-filter as written (no early stop: every matching patron fetched and decided, then the first page kept), the same searches, at most %s per case (the first runs of the same random order):\n\n", budget)
	fmt.Fprintf(h.md, "| library | search | SQL p50 | SQL p99 | fetch-all p50 | fetch-all p99 | runs | rows decided | speed-up p50 | speed-up p99 | paired: SQL p50 over the same searches | paired: median speed-up per search |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, c := range cases {
		fmt.Fprintf(h.md, "| %s | %s | %s | %s | %s | %s | %d | %.0f | %.0f× | %.0f× | %s | %.0f× |\n", c.Library, c.Kind,
			ms(c.SQLp50), ms(c.SQLp99), ms(c.AllP50), ms(c.AllP99), c.AllRuns, c.AllFetched, c.AllSpeedupP50, c.AllSpeedupP99,
			ms(c.AllPairedSQLp50), c.AllPairedSpeedupP50)
	}
	fmt.Fprintln(h.md)
	fmt.Fprintf(h.md, "patron.Search is the search statement (and the cards of the page) alone, without LoadResources and the decisions. Slowest name searches (patron.Search): ")
	for _, c := range cases {
		if c.Kind == "name prefix" {
			fmt.Fprintf(h.md, "%s %q; ", c.Library, c.Worst[:min(5, len(c.Worst))])
		}
	}
	fmt.Fprintf(h.md, "\n\n")
	var sb strings.Builder
	for _, code := range libs {
		for _, kind := range []string{"name prefix", "birth date"} {
			fmt.Fprintf(&sb, "### %s, %s\n\n```\n%s```\n\n", code, kind, explains[code+" "+kind])
		}
	}
	for _, key := range explainOrder {
		fmt.Fprintf(&sb, "### %s\n\n```\n%s```\n\n", key, explains[key])
	}
	_ = os.WriteFile(filepath.Join(h.f.dir, "search-explain.md"), []byte(sb.String()), 0o644)
	fmt.Fprintf(h.md, "EXPLAIN plans: %s\n\n", filepath.Join(h.f.dir, "search-explain.md"))
	return nil
}

// explain runs patron.Search once with the tracer on and EXPLAINs its
// first query (the search itself) with the same arguments.
func (h *harness) explain(db *pgxpool.Pool, tr *capture, s *searcher, q patron.Query) (string, error) {
	tr.mu.Lock()
	tr.sql, tr.args = nil, nil
	tr.mu.Unlock()
	ctx := context.WithValue(h.ctx, captureKey{}, true)
	q.Limit = pageSize + 1
	if _, err := s.search.Search(ctx, db, s.subj, q); err != nil {
		return "", err
	}
	// The search statement: not the per-library count patron.Search may
	// run first (patron.SearchPlan), nor the page's cards.
	tr.mu.Lock()
	var sql string
	var args []any
	for i := range tr.sql {
		if strings.Contains(tr.sql[i], "p.special_categories") {
			sql, args = tr.sql[i], tr.args[i]
			break
		}
	}
	tr.mu.Unlock()
	if sql == "" {
		return "(no search statement)\n", nil
	}
	rows, err := db.Query(h.ctx, "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) "+sql, args...)
	if err != nil {
		return "", err
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return "", err
	}
	return strings.Join(lines, "\n") + "\n", nil
}
