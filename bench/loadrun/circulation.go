package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
)

type circResult struct {
	Workers, Libraries, PopularPerLibrary int
	Duration                              time.Duration
	// Per operation: count by status code, p50/p99 of all its calls.
	Ops map[string]*opStats
	// Unexpected: anything but OK and FAILED_PRECONDITION.
	Unexpected int64
	// Cut: calls in flight when the run's time was up (not counted).
	Cut int64
	// The run's title holds: placed, captured by a copy checked in, and
	// collected.
	TitleHolds, TitleCaptured, TitleCollected int64
}

type opStats struct {
	Codes    map[string]int64
	lat      latencies
	P50, P99 time.Duration
	PerSec   float64
}

// circulation runs desks checking out and back in, half of the time one
// of a few popular items of their library, so that concurrent checkouts
// of the same item collide. Between loans the desks also place holds on
// the popular items and on their titles (which check-ins then put on the
// hold shelf: a title hold captures the first copy checked in), lend a
// held copy to its patron, cancel holds, and expire and clear their hold
// shelves, so that every path that locks items and reservations meets
// the others. The only errors expected are FAILED_PRECONDITION (the item
// is on loan, or held for another patron) and, for a cancel, NOT_FOUND
// (the hold was collected first). The holds the run leaves are cancelled
// at its end, so the data stays as seeded for the next run.
func (h *harness) circulation() error {
	pool, err := h.servePool()
	if err != nil {
		return err
	}
	defer pool.Close()
	const libs, desks, popular, tail, cards = 4, 4, 6, 3000, 3000
	type library struct {
		popular, tail, cards []string
		records              []string // of the popular copies ("" if none)
		tokens               []string
	}
	var ls []*library
	for i := range libs {
		code := fmt.Sprintf("LIB%02d", i+1)
		id, err := h.libraryID(pool, code)
		if err != nil {
			return err
		}
		l := &library{}
		// Copies nobody holds, of titles nobody waits for: the run's
		// check-ins capture only the run's own title holds.
		rows, err := pool.Query(h.ctx, `SELECT barcode, coalesce(record_id, '') FROM items i WHERE owning_library_id = $1 AND status = 'available'
			AND NOT EXISTS (SELECT 1 FROM reservations r WHERE r.item_id = i.id AND r.status = 'active')
			AND NOT EXISTS (SELECT 1 FROM reservations r WHERE r.record_id = i.record_id AND r.status = 'active' AND r.item_id IS NULL)
			ORDER BY barcode LIMIT $2`, id, popular+tail)
		if err != nil {
			return err
		}
		items, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct{ Barcode, Record string }])
		if err != nil {
			return err
		}
		if len(items) < popular+10 {
			return fmt.Errorf("%s has too few available items", code)
		}
		for i, it := range items {
			if i < popular {
				l.popular = append(l.popular, it.Barcode)
				l.records = append(l.records, it.Record)
			} else {
				l.tail = append(l.tail, it.Barcode)
			}
		}
		rows, err = pool.Query(h.ctx, `SELECT c.card_number FROM cards c JOIN patrons p ON p.id = c.patron_id
			WHERE p.home_library_id = $1 AND c.active AND p.archived_at IS NULL AND p.anonymised_at IS NULL
			AND NOT EXISTS (SELECT 1 FROM patron_suspensions s WHERE s.patron_id = p.id)
			AND NOT EXISTS (SELECT 1 FROM fees f WHERE f.patron_id = p.id AND f.settled_at IS NULL)
			ORDER BY md5(c.card_number) LIMIT $2`, id, cards)
		if err != nil {
			return err
		}
		if l.cards, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return err
		}
		for d := 1; d <= desks; d++ {
			user := fmt.Sprintf("lib%02d.circ", i+1)
			if d > 1 {
				user = fmt.Sprintf("%s%d", user, d)
			}
			tok, err := h.login(user)
			if err != nil {
				return err
			}
			l.tokens = append(l.tokens, tok)
		}
		ls = append(ls, l)
	}
	conn, err := grpc.NewClient(serveGRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	client := pb.NewLoanServiceClient(conn)
	res := circResult{Workers: libs * desks, Libraries: libs, PopularPerLibrary: popular, Duration: h.f.duration * 3 / 2,
		Ops: map[string]*opStats{}}
	for _, op := range circOps {
		res.Ops[op] = &opStats{Codes: map[string]int64{}}
	}
	started := time.Now()
	ctx, cancel := context.WithTimeout(h.ctx, res.Duration)
	defer cancel()
	// over: the run's time is up. Not ctx.Err() alone: gRPC refuses a
	// call whose deadline has passed before the context's timer has
	// fired, and on a busy machine the desks' loops would count hundreds
	// of such refusals in that gap.
	deadline, _ := ctx.Deadline()
	over := func() bool { return ctx.Err() != nil || !time.Now().Before(deadline) }
	var mu sync.Mutex
	record := func(op string, d time.Duration, err error) {
		code := status.Code(err)
		mu.Lock()
		defer mu.Unlock()
		if over() && (code == codes.DeadlineExceeded || code == codes.Canceled) {
			res.Cut++ // the run ended under it, as ghz cuts its last requests
			return
		}
		s := res.Ops[op]
		s.Codes[code.String()]++
		s.lat = append(s.lat, d)
		if code != codes.OK && code != codes.FailedPrecondition && (op != "CancelReservation" || code != codes.NotFound) {
			res.Unexpected++
			if res.Unexpected <= 5 {
				h.logf("circulation: unexpected %s: %v", op, err)
			}
		}
	}
	var wg sync.WaitGroup
	for li, l := range ls {
		for d, tok := range l.tokens {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(uint64(li), uint64(d)))
				cctx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
				type placed struct{ id, card, item string }
				var holds []placed // this desk's, oldest first
				for !over() {
					item := l.tail[r.IntN(len(l.tail))]
					if r.IntN(2) == 0 {
						item = l.popular[r.IntN(len(l.popular))]
					}
					card := l.cards[r.IntN(len(l.cards))]
					switch n := r.IntN(100); {
					case n < 8: // a hold on a popular copy, or (3 in 8) on its title
						p := r.IntN(len(l.popular))
						item = l.popular[p]
						req := &pb.PlaceReservationRequest{RequestId: uuid.NewString(), CardNumber: card,
							Target: &pb.PlaceReservationRequest_ItemBarcode{ItemBarcode: item}}
						if n >= 5 && l.records[p] != "" {
							req.Target = &pb.PlaceReservationRequest_RecordId{RecordId: l.records[p]}
						}
						t := time.Now()
						rr, err := client.PlaceReservation(cctx, req)
						if over() {
							return
						}
						record("PlaceReservation", time.Since(t), err)
						if err == nil {
							holds = append(holds, placed{rr.GetReservation().GetId(), card, item})
						}
						continue
					case n < 12 && len(holds) > 0: // the oldest hold is cancelled
						t := time.Now()
						_, err := client.CancelReservation(cctx, &pb.CancelReservationRequest{ReservationId: holds[0].id})
						if over() {
							return
						}
						record("CancelReservation", time.Since(t), err)
						holds = holds[1:]
						continue
					case n < 14: // expire, and clear the hold shelf
						t := time.Now()
						ex, err := client.ExpireReservations(cctx, &pb.ExpireReservationsRequest{})
						if over() {
							return
						}
						record("ExpireReservations", time.Since(t), err)
						for _, it := range ex.GetShelfToClear() {
							t = time.Now()
							_, err = client.CheckIn(context.WithoutCancel(cctx), &pb.CheckInRequest{RequestId: uuid.NewString(), ItemBarcode: it.GetBarcode()})
							record("CheckIn", time.Since(t), err)
						}
						continue
					case n < 40 && len(holds) > 0: // a patron collects a held copy
						h := holds[r.IntN(len(holds))]
						card, item = h.card, h.item
					}
					t := time.Now()
					_, err := client.CheckOut(cctx, &pb.CheckOutRequest{RequestId: uuid.NewString(), CardNumber: card, ItemBarcode: item})
					if over() {
						return
					}
					record("CheckOut", time.Since(t), err)
					if err != nil {
						continue
					}
					// Give it back: wait until it is in (a retry after a
					// lost answer would be idempotent by request id).
					t = time.Now()
					_, err = client.CheckIn(context.WithoutCancel(cctx), &pb.CheckInRequest{RequestId: uuid.NewString(), ItemBarcode: item})
					record("CheckIn", time.Since(t), err)
				}
			}()
		}
	}
	wg.Wait()
	for _, s := range res.Ops {
		s.P50, s.P99 = s.lat.pct(50), s.lat.pct(99)
		s.PerSec = float64(s.Codes["OK"]) / res.Duration.Seconds()
	}
	if err := pool.QueryRow(h.ctx, `SELECT count(*), count(*) FILTER (WHERE item_id IS NOT NULL),
		count(*) FILTER (WHERE status = 'fulfilled') FROM reservations WHERE placed_at >= $1 AND record_id IS NOT NULL`,
		started).Scan(&res.TitleHolds, &res.TitleCaptured, &res.TitleCollected); err != nil {
		return err
	}
	h.results["circulation"] = res
	fmt.Fprintf(h.md, "## Checkout / check-in with contention\n\n%d desks (%d libraries × %d circulation accounts), %s; each desk checks out an available item of its library — half of the time one of its %d popular items — to one of %d of its patrons, and checks it back in if the checkout succeeded; in between it places holds on the popular items (8 %% of its steps; 3 %% on the item's title, which the first copy of it checked in is captured for), cancels its oldest hold (4 %%), expires its library's holds and checks in the copies to clear from its hold shelf (2 %%), and lends a held copy to its patron (26 %% of steps, when it has holds).\n\n",
		res.Workers, libs, desks, res.Duration, popular, cards)
	fmt.Fprintf(h.md, "| operation | OK/s | codes | p50 | p99 |\n|---|---|---|---|---|\n")
	for _, op := range circOps {
		s := res.Ops[op]
		var cs []string
		for c, n := range s.Codes {
			cs = append(cs, fmt.Sprintf("%s %d", c, n))
		}
		sort.Strings(cs)
		fmt.Fprintf(h.md, "| %s | %.0f | %v | %s | %s |\n", op, s.PerSec, cs, ms(s.P50), ms(s.P99))
	}
	fmt.Fprintf(h.md, "\nunexpected errors (not OK, not FAILED_PRECONDITION, not NOT_FOUND for a cancel): %d; calls cut off when the time was up (not counted): %d\n\n", res.Unexpected, res.Cut)
	fmt.Fprintf(h.md, "title holds placed: %d, of which captured by a copy checked in: %d, collected: %d\n\n", res.TitleHolds, res.TitleCaptured, res.TitleCollected)
	// Leave the data as seeded: the run's holds end, and the copies it
	// left on hold shelves or in transit go back to the stacks.
	if _, err := pool.Exec(h.ctx, `UPDATE reservations SET status = 'cancelled', finished_at = now()
		WHERE status = 'active' AND placed_at >= $1`, started); err != nil {
		return fmt.Errorf("circulation: cancel the run's holds: %w", err)
	}
	// Only the run's copies: the seeded ready holds' copies stay on
	// their shelves.
	var used []string
	for _, l := range ls {
		used = append(append(used, l.popular...), l.tail...)
	}
	if _, err := pool.Exec(h.ctx, `UPDATE items SET hold_shelf_library_id = NULL, transit_to_library_id = NULL,
		transit_since = NULL, transit_from_library_id = NULL
		WHERE barcode = ANY($1) AND (hold_shelf_library_id IS NOT NULL OR transit_to_library_id IS NOT NULL)`, used); err != nil {
		return fmt.Errorf("circulation: clear the shelves: %w", err)
	}
	return nil
}

// circOps are the operations the circulation phase reports, in order.
var circOps = []string{"CheckOut", "CheckIn", "PlaceReservation", "CancelReservation", "ExpireReservations"}
