package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/patronfed/patronfed/circulation"
)

// holdsResult is what the holds phase measured.
type holdsResult struct {
	Reservations, Waiting, Ready int64
	// TitleWaiting: in titles' queues (no copy captured yet).
	TitleWaiting int64
	// LIB01's active holds for pickup there, and the copies on its shelf.
	LibraryWaiting, LibraryShelf int64
	Windows                      []window
	Shelf                        []window
}

// holds measures the reservation reads at consortium scale (the
// generator seeds reservations since version 5): a desk reading a
// patron's holds (ListPatronReservations: authenticated, policy-checked
// and audited like GetPatron, measured beside GetPatron on the same
// patrons in alternating windows), the biggest library's hold shelf list
// (ListHoldShelf: one decision and audit entry per patron on the page),
// and the EXPLAIN plans of the statements behind them, of expiring the
// shelf, and of the longest title queue (since generator version 6): its
// last patron's holds, a check-in that captures a copy for it, a patron
// joining it. (The reservation history's retention walk has its plan test:
// TestReservationWalkReadsOnlyDueReservations.)
func (h *harness) holds() error {
	pool, err := h.servePool()
	if err != nil {
		return err
	}
	defer pool.Close()
	lib, err := h.libraryID(pool, "LIB01")
	if err != nil {
		return err
	}
	var res holdsResult
	if err := pool.QueryRow(h.ctx, `SELECT count(*), count(*) FILTER (WHERE status = 'active' AND ready_at IS NULL),
		count(*) FILTER (WHERE status = 'active' AND ready_at IS NOT NULL),
		count(*) FILTER (WHERE status = 'active' AND item_id IS NULL),
		count(*) FILTER (WHERE status = 'active' AND pickup_library_id = $1),
		(SELECT count(*) FROM items WHERE hold_shelf_library_id = $1)
		FROM reservations`, lib).Scan(&res.Reservations, &res.Waiting, &res.Ready, &res.TitleWaiting, &res.LibraryWaiting, &res.LibraryShelf); err != nil {
		return err
	}
	if res.LibraryWaiting == 0 {
		return fmt.Errorf("holds: LIB01 has no active reservations (seeded by generator version 5 and later)")
	}
	// Patrons of LIB01 with holds to collect there, spread over the ids.
	rows, err := pool.Query(h.ctx, `SELECT DISTINCT ON (md5(r.patron_id::text)) r.patron_id::text
		FROM reservations r JOIN patrons p ON p.id = r.patron_id
		WHERE r.status = 'active' AND r.pickup_library_id = $1 AND p.home_library_id = $1
		ORDER BY md5(r.patron_id::text) LIMIT 5000`, lib)
	if err != nil {
		return err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	reqs := make([]map[string]string, len(ids))
	for i, id := range ids {
		reqs[i] = map[string]string{"patron_id": id}
	}
	data := filepath.Join(h.f.dir, "holds-LIB01.json")
	b, _ := json.Marshal(reqs)
	if err := os.WriteFile(data, b, 0o644); err != nil {
		return err
	}
	token, err := h.login("lib01.circ")
	if err != nil {
		return err
	}
	const c = 16
	calls := []struct{ name, call string }{
		{"GetPatron", "patronfed.v1.PatronService.GetPatron"},
		{"ListPatronReservations", "patronfed.v1.LoanService.ListPatronReservations"},
	}
	for round := -1; round < h.f.rounds; round++ {
		for _, cl := range calls {
			g := ghzRun{Call: cl.call, DataFile: data, Token: token, Concurrency: c, Connections: min(c, h.f.connections), Duration: h.f.duration}
			if round < 0 { // warm-up
				if h.f.warmup <= 0 {
					continue
				}
				g.Duration = h.f.warmup
			}
			w, err := h.measure(cl.name, serveGRPC, h.serve.pid(), g)
			if err != nil {
				return err
			}
			if round >= 0 {
				res.Windows = append(res.Windows, w)
			}
		}
	}
	shelfData := filepath.Join(h.f.dir, "holdshelf-LIB01.json")
	for _, unnotified := range []bool{false, true} {
		b, _ := json.Marshal(map[string]any{"library_id": lib, "page_size": 50, "unnotified_only": unnotified})
		if err := os.WriteFile(shelfData, b, 0o644); err != nil {
			return err
		}
		name := "ListHoldShelf"
		if unnotified {
			name += " unnotified"
		}
		g := ghzRun{Call: "patronfed.v1.LoanService.ListHoldShelf", DataFile: shelfData, Token: token, Concurrency: 4,
			Connections: 4, Duration: h.f.duration}
		w, err := h.measure(name, serveGRPC, h.serve.pid(), g)
		if err != nil {
			return err
		}
		res.Shelf = append(res.Shelf, w)
	}
	h.results["holds"] = res

	fmt.Fprintf(h.md, "## Reservations: a patron's holds, the hold shelf (LIB01)\n\n")
	fmt.Fprintf(h.md, "%d reservations: %d waiting (%d of them in titles' queues), %d ready on hold shelves; LIB01: %d active for pickup there, %d copies on its shelf.\n\n",
		res.Reservations, res.Waiting, res.TitleWaiting, res.Ready, res.LibraryWaiting, res.LibraryShelf)
	fmt.Fprintf(h.md, "lib01.circ; GetPatron and ListPatronReservations alternate %s windows at c=%d over %d LIB01 patrons with holds there; ListHoldShelf reads the first page (50) at c=4.\n\n",
		h.f.duration, c, len(ids))
	fmt.Fprintf(h.md, "| call | c | requests | req/s | p50 | p90 | p99 | errors | CPU µs/req: server | PostgreSQL | ghz | machine | decision in server: mean |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, w := range append(append([]window{}, res.Windows...), res.Shelf...) {
		fmt.Fprintf(h.md, "| %s | %d | %d | %.0f | %s | %s | %s | %d | %.0f | %.0f | %.0f | %.0f | %.0f µs |\n", w.Server, w.Concurrency, w.Count, w.RPS,
			ms(w.P50), ms(w.P90), ms(w.P99), w.Errors, w.ProcCPUus, w.PgCPUus, w.GhzCPUus, w.MachineCPUus, w.DecisionMeanUS)
	}
	fmt.Fprintln(h.md)
	plans, err := h.holdPlans(lib)
	if err != nil {
		return err
	}
	path := filepath.Join(h.f.dir, "holds-explain.md")
	if err := os.WriteFile(path, []byte(plans), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(h.md, "EXPLAIN plans: %s\n\n", path)
	return nil
}

// holdPlans EXPLAINs (ANALYZE, BUFFERS) what circulation sends for the
// reservation reads and for expiring LIB01's shelf three days from now,
// as patronfed_app, inside transactions that are rolled back.
func (h *harness) holdPlans(lib string) (string, error) {
	tr := &capture{}
	db, err := h.tracedPool(tr, 2)
	if err != nil {
		return "", err
	}
	defer db.Close()
	var busiest string
	if err := db.QueryRow(h.ctx, `SELECT patron_id::text FROM reservations WHERE status = 'active'
		GROUP BY patron_id ORDER BY count(*) DESC, patron_id LIMIT 1`).Scan(&busiest); err != nil {
		return "", err
	}
	// The title with the longest queue that a copy on loan, which no
	// item hold waits for, will serve when it is checked in; the last
	// patron in that queue; and a LIB01 patron who may join it.
	var record, copyBarcode, copyLib, lastInQueue, joiner string
	var queueLen int
	if err := db.QueryRow(h.ctx, `SELECT q.record_id, q.n, i.barcode, i.owning_library_id::text,
		(SELECT patron_id::text FROM reservations WHERE record_id = q.record_id AND status = 'active' AND item_id IS NULL
		 ORDER BY placed_at DESC, id DESC LIMIT 1)
		FROM (SELECT record_id, count(*) AS n FROM reservations WHERE status = 'active' AND item_id IS NULL
		      GROUP BY record_id) q
		JOIN items i ON i.record_id = q.record_id AND i.status = 'on_loan'
		WHERE NOT EXISTS (SELECT 1 FROM reservations r WHERE r.item_id = i.id AND r.status = 'active')
		ORDER BY q.n DESC, q.record_id, i.barcode LIMIT 1`).Scan(&record, &queueLen, &copyBarcode, &copyLib, &lastInQueue); err != nil {
		return "", fmt.Errorf("the longest title queue: %w", err)
	}
	if err := db.QueryRow(h.ctx, `SELECT p.id::text FROM patrons p WHERE p.home_library_id = $1
		AND p.archived_at IS NULL AND p.anonymised_at IS NULL
		AND NOT EXISTS (SELECT 1 FROM patron_suspensions s WHERE s.patron_id = p.id)
		AND NOT EXISTS (SELECT 1 FROM fees f WHERE f.patron_id = p.id AND f.settled_at IS NULL)
		AND NOT EXISTS (SELECT 1 FROM reservations r WHERE r.patron_id = p.id AND r.record_id = $2 AND r.status = 'active')
		AND NOT EXISTS (SELECT 1 FROM loans l JOIN items i ON i.id = l.item_id
		                WHERE l.patron_id = p.id AND l.returned_at IS NULL AND i.record_id = $2)
		ORDER BY p.id LIMIT 1`, lib, record).Scan(&joiner); err != nil {
		return "", fmt.Errorf("a patron to join the queue: %w", err)
	}
	var out strings.Builder
	fmt.Fprintf(&out, "The longest title queue a copy on loan will serve: %s, %d patrons waiting; the copy %s.\n\n", record, queueLen, copyBarcode)
	cases := []struct {
		title string
		run   func(ctx context.Context, tx pgx.Tx) error
	}{
		{"a patron's active reservations (the patron with the most)", func(ctx context.Context, tx pgx.Tx) error {
			_, err := circulation.ActiveReservationsOfPatron(ctx, tx, busiest, "")
			return err
		}},
		{"LIB01's hold shelf, first page", func(ctx context.Context, tx pgx.Tx) error {
			_, err := circulation.HoldShelf(ctx, tx, lib, false, 51, 0)
			return err
		}},
		{"expiring LIB01's holds three days from now (rolled back)", func(ctx context.Context, tx pgx.Tx) error {
			_, err := circulation.ExpireReservations(ctx, tx, lib, time.Now().Add(72*time.Hour))
			return err
		}},
		{"the last patron in the longest title queue: their active reservations", func(ctx context.Context, tx pgx.Tx) error {
			_, err := circulation.ActiveReservationsOfPatron(ctx, tx, lastInQueue, "")
			return err
		}},
		{"checking in a copy of that title at its library: the oldest hold in the queue captures it (rolled back)", func(ctx context.Context, tx pgx.Tx) error {
			res, err := circulation.CheckIn(ctx, tx, copyBarcode, copyLib, time.Now())
			if err == nil && !res.Reserved {
				err = fmt.Errorf("the check-in of %s captured no hold of %s's queue", copyBarcode, record)
			}
			return err
		}},
		{"a LIB01 patron joins that queue (rolled back)", func(ctx context.Context, tx pgx.Tx) error {
			_, err := circulation.PlaceRecordReservation(ctx, tx, joiner, lib, record, time.Time{}, time.Now())
			return err
		}},
	}
	for _, c := range cases {
		fmt.Fprintf(&out, "## %s\n\n", c.title)
		tr.mu.Lock()
		tr.sql, tr.args = nil, nil
		tr.mu.Unlock()
		ctx := context.WithValue(h.ctx, captureKey{}, true)
		if err := pgx.BeginFunc(h.ctx, db, func(tx pgx.Tx) error {
			if err := c.run(ctx, tx); err != nil {
				return err
			}
			return errRollback
		}); err != nil && !errors.Is(err, errRollback) {
			return "", fmt.Errorf("%s: %w", c.title, err)
		}
		tr.mu.Lock()
		sqls, args := tr.sql, tr.args
		tr.mu.Unlock()
		// The same statements in order in one transaction, so each sees
		// what the ones before it changed; then rolled back.
		err := pgx.BeginFunc(h.ctx, db, func(tx pgx.Tx) error {
			for i, sql := range sqls {
				rows, err := tx.Query(h.ctx, "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) "+sql, args[i]...)
				if err != nil {
					return err
				}
				lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
				if err != nil {
					return err
				}
				fmt.Fprintf(&out, "```sql\n%s\n```\n```\n%s\n```\n\n", strings.TrimSpace(sql), strings.Join(lines, "\n"))
			}
			return errRollback
		})
		if err != nil && !errors.Is(err, errRollback) {
			return "", fmt.Errorf("%s: explain: %w", c.title, err)
		}
	}
	return out.String(), nil
}
