package auditquery

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/patronfed/patronfed/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestBreachScopeAtScale measures breach scoping on a large audit log. It
// is off by default (it seeds a million rows):
//
//	PATRONFED_BREACH_ROWS=1000000 go test -run BreachScopeAtScale -v ./auditquery
//
// The log spans 60 days (the default retention is 2 months) of 2,000
// staff accounts at 20 libraries reading 200,000 patrons, one token per
// account per day. It prints, per question, the rows in scope, the time of
// Summarize plus the first page of patrons through the Go API, and
// PostgreSQL's EXPLAIN ANALYZE of the summary query. No assertion on time:
// the numbers go to docs/performance.md ("Breach scoping").
func TestBreachScopeAtScale(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("PATRONFED_BREACH_ROWS"))
	if n <= 0 || testing.Short() {
		t.Skip("set PATRONFED_BREACH_ROWS (e.g. 1000000) to run")
	}
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	start := time.Now()
	days := 60.0
	// Rows are spread evenly over the window; every 13th is a denial.
	_, err := pool.Exec(ctx, `
		INSERT INTO audit_log (seq, at, request_id, actor_kind, actor_id, actor_library_id, actor_roles, token_id, action,
		                       patron_id, allowed, reasons, fields, policy_version, input, prev_hash, hash)
		SELECT i, timestamptz '2026-01-01Z' + (i * ($2::float8 * 86400 / $1)) * interval '1 second',
		       'req-' || i, 'staff', md5('staff' || s)::uuid, md5('lib' || (s % 20))::uuid, '{circulation}',
		       'tok-' || s || '-' || floor(i * $2::float8 / $1)::int,
		       CASE WHEN i % 10 = 0 THEN 'loan.checkout' ELSE 'patron.read' END,
		       md5('patron' || p)::uuid, i % 13 <> 0, '{seeded}',
		       CASE WHEN i % 13 = 0 THEN '{}'::text[] ELSE (ARRAY['{name,address,cards}', '{name,birth_date,address,cards,service,guardian}',
		            '{name,cards,contact}', '{name,birth_date,address,cards,service,guardian,id_document,national_ids}'])[i % 4 + 1]::text[] END,
		       1,
		       jsonb_build_object(
		         'subject', jsonb_build_object('kind', 'staff', 'account_id', md5('staff' || s)::uuid, 'library_id', md5('lib' || (s % 20))::uuid,
		                                       'permissions', '["loan.manage", "patron.read"]'::jsonb),
		         'action', CASE WHEN i % 10 = 0 THEN 'loan.checkout' ELSE 'patron.read' END,
		         'resource', jsonb_build_object('patron_id', md5('patron' || p)::uuid, 'home_library_id', md5('lib' || (p % 20))::uuid,
		                                        'consent_library_ids', '[]'::jsonb, 'active_loan_library_ids', '[]'::jsonb,
		                                        'optional_data_consent', false, 'archived', false)),
		       decode(repeat('00', 32), 'hex'), decode(repeat('00', 32), 'hex')
		FROM generate_series(1, $1::bigint) i, LATERAL (SELECT (i * 7) % 2000 AS s, (i * 7919) % 200000 AS p) k`, n, days)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `ANALYZE audit_log`); err != nil {
		t.Fatal(err)
	}
	var size string
	pool.QueryRow(ctx, `SELECT pg_size_pretty(pg_total_relation_size('audit_log'))`).Scan(&size)
	t.Logf("seeded %d rows over %.0f days in %v; audit_log with indexes: %s", n, days, time.Since(start).Round(time.Millisecond), size)

	day := func(d int) time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, d) }
	staff := func(s int) string {
		var id string
		pool.QueryRow(ctx, `SELECT md5('staff' || $1::int)::uuid::text`, s).Scan(&id)
		return id
	}
	lib := func(l int) string {
		var id string
		pool.QueryRow(ctx, `SELECT md5('lib' || $1::int)::uuid::text`, l).Scan(&id)
		return id
	}
	cases := []struct {
		name string
		f    BreachFilter
	}{
		{"one staff account, whole log", BreachFilter{ActorID: staff(42)}},
		{"one token (one account, one day)", BreachFilter{TokenID: "tok-42-30"}},
		{"one library, 7 days", BreachFilter{LibraryID: lib(3), From: day(20), To: day(27)}},
		{"one library, whole log", BreachFilter{LibraryID: lib(3)}},
		{"every account, 1 day", BreachFilter{From: day(30), To: day(31)}},
		{"every account, whole log (worst case)", BreachFilter{From: day(0), To: day(61)}},
	}
	var report strings.Builder
	fmt.Fprintf(&report, "| question | reads in scope | patrons | Summarize cold / warm | first 1000 patrons cold / warm | summary EXPLAIN ANALYZE | access path |\n|---|---|---|---|---|---|---|\n")
	for _, tc := range cases {
		// Cold first (as an investigation starts), then warm.
		var sum Summary
		var took [2][2]time.Duration // [cold, warm][summary, page]
		for run := range 2 {
			t0 := time.Now()
			if sum, err = Summarize(ctx, pool, tc.f); err != nil {
				t.Fatal(err)
			}
			t1 := time.Now()
			if _, err := Patrons(ctx, pool, tc.f, "", 1000); err != nil {
				t.Fatal(err)
			}
			took[run] = [2]time.Duration{t1.Sub(t0).Round(time.Millisecond), time.Since(t1).Round(time.Millisecond)}
		}

		where, args := tc.f.filter().where(nil)
		rows, err := pool.Query(ctx, `EXPLAIN (ANALYZE, BUFFERS) `+summarySQL(where), args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var line string
			rows.Scan(&line)
			plan = append(plan, line)
		}
		rows.Close()
		exec := plan[len(plan)-1]
		access := accessPath(plan)
		rows, err = pool.Query(ctx, `EXPLAIN `+patronsSQL(where)+` ORDER BY patron_id LIMIT 1001`, args...)
		if err != nil {
			t.Fatal(err)
		}
		plan = plan[:0]
		for rows.Next() {
			var line string
			rows.Scan(&line)
			plan = append(plan, line)
		}
		rows.Close()
		t.Logf("first page plan: %s", accessPath(plan))
		t.Logf("%s: %d reads, %d patrons; Summarize %v cold / %v warm, first page %v cold / %v warm\n  %s\n  %s",
			tc.name, sum.Reads, sum.Patrons, took[0][0], took[1][0], took[0][1], took[1][1], access, exec)
		fmt.Fprintf(&report, "| %s | %d | %d | %v / %v | %v / %v | %s | %s |\n", tc.name, sum.Reads, sum.Patrons,
			took[0][0], took[1][0], took[0][1], took[1][1], strings.TrimPrefix(strings.TrimSpace(exec), "Execution Time: "), access)
	}
	t.Logf("\n%s", report.String())
}

// accessPath returns the plan lines that read audit_log (scans and the
// indexes they use), joined.
func accessPath(plan []string) string {
	var out []string
	for _, l := range plan {
		if strings.Contains(l, "on audit_log") {
			l = strings.TrimSpace(strings.TrimLeft(strings.TrimSpace(l), "->"))
			if i := strings.Index(l, "  ("); i >= 0 {
				l = l[:i]
			}
			out = append(out, l)
		}
	}
	return strings.Join(out, "; ")
}
