package loans_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/patronfed/patronfed/circulation/circtest"
	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
	"github.com/patronfed/patronfed/testserver"
)

// TestCirculationUnderContention: desks of two libraries check copies of
// one title out and in, hold it and its copies, cancel holds and clear
// their hold shelves, all at once on a few copies, so that every path
// that locks items and reservations meets the others. No call may fail
// with anything but the lending rules' own answers (a deadlock that
// outlived its retries would be Aborted), and afterwards the data must
// be consistent: a copy is on loan exactly when a loan is active, at most
// one hold is ready per copy, a ready hold's copy is on its pickup
// library's hold shelf. (The database's checks keep a copy on a hold
// shelf or in transit available, and never both. A copy may travel for
// nobody: its hold was cancelled, or its patron borrowed another copy, on
// the way; its receipt sends it to the stacks.)
func TestCirculationUnderContention(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	type site struct {
		code  string
		desks []desk
		cards []string
	}
	sites := []*site{{code: "BRNO"}, {code: "SLAV"}}
	var barcodes []string
	for _, st := range sites {
		d := staff(t, s, strings.ToLower(st.code)+".circ")
		for i := range 3 {
			b := fmt.Sprintf("%s-97%02d", st.code, i)
			d.copyOf(t, b, record)
			barcodes = append(barcodes, b)
		}
		for i := range 4 {
			card := fmt.Sprintf("C97%s%d", st.code[:1], i)
			circtest.NewPatron(t, s, st.code, card, "Contention", fmt.Sprintf("Patron %s%d", st.code, i))
			st.cards = append(st.cards, card)
		}
		for range 3 {
			st.desks = append(st.desks, staff(t, s, strings.ToLower(st.code)+".circ"))
		}
	}
	var (
		mu       sync.Mutex
		holds    []string
		outcomes = map[string]int{}
	)
	allowed := map[codes.Code]bool{codes.OK: true, codes.FailedPrecondition: true, codes.NotFound: true}
	var wg sync.WaitGroup
	for si, st := range sites {
		for di, d := range st.desks {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(uint64(si), uint64(di)))
				for range 60 {
					card, item := st.cards[r.IntN(len(st.cards))], barcodes[r.IntN(len(barcodes))]
					var op string
					var err error
					switch r.IntN(7) {
					case 0, 1:
						op = "CheckOut"
						_, err = d.checkOut(card, item)
					case 2, 3:
						op = "CheckIn"
						_, err = d.loans.CheckIn(d.ctx, &pb.CheckInRequest{RequestId: circtest.ReqID(), ItemBarcode: item})
					case 4:
						op = "Hold"
						var h *pb.Reservation
						if r.IntN(2) == 0 {
							h, err = d.holdTitle(card, record)
						} else {
							h, err = d.holdItem(card, item)
						}
						if err == nil {
							mu.Lock()
							holds = append(holds, h.GetId())
							mu.Unlock()
						}
					case 5:
						op = "Cancel"
						mu.Lock()
						id := circtest.ReqID() // none: NotFound
						if len(holds) > 0 {
							id = holds[r.IntN(len(holds))]
						}
						mu.Unlock()
						_, err = d.loans.CancelReservation(d.ctx, &pb.CancelReservationRequest{ReservationId: id})
					case 6:
						op = "Expire"
						_, err = d.loans.ExpireReservations(d.ctx, &pb.ExpireReservationsRequest{})
					}
					c := status.Code(err)
					mu.Lock()
					outcomes[op+" "+c.String()]++
					mu.Unlock()
					if !allowed[c] {
						t.Errorf("%s at %s: %v", op, st.code, err)
					}
				}
			}()
		}
	}
	wg.Wait()
	t.Logf("calls by outcome: %v", outcomes)
	for _, need := range []string{"CheckOut OK", "CheckIn OK", "Hold OK", "Cancel OK"} {
		if outcomes[need] == 0 {
			t.Errorf("test premise: no %q among %v", need, outcomes)
		}
	}
	for what, sql := range map[string]string{
		"a copy on loan without an active loan, or the reverse": `SELECT count(*) FROM items i
			WHERE (i.status = 'on_loan') <> EXISTS (SELECT 1 FROM loans l WHERE l.item_id = i.id AND l.returned_at IS NULL)`,
		"a copy with two ready holds": `SELECT count(*) FROM (SELECT item_id FROM reservations
			WHERE status = 'active' AND ready_at IS NOT NULL GROUP BY item_id HAVING count(*) > 1) x`,
		"a ready hold whose copy is not on its pickup library's shelf": `SELECT count(*) FROM reservations r JOIN items i ON i.id = r.item_id
			WHERE r.status = 'active' AND r.ready_at IS NOT NULL AND i.hold_shelf_library_id IS DISTINCT FROM r.pickup_library_id`,
	} {
		var n int
		if err := s.DB.QueryRow(t.Context(), sql).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("%s: %d", what, n)
		}
	}
	if t.Failed() {
		dumpCirculation(t, s)
	}
}

// dumpCirculation logs the test's copies and their holds (generated
// patrons only), to read a failure.
func dumpCirculation(t *testing.T, s *testserver.Server) {
	rows, err := s.DB.Query(t.Context(), `SELECT i.barcode, i.status, coalesce(l.code, '-'), coalesce(r.id::text, ''),
			coalesce(r.status, ''), coalesce(r.record_id, 'item'), coalesce(p.code, ''), r.placed_at::text, coalesce(r.ready_at::text, ''),
			coalesce(r.finished_at::text, '')
		FROM items i LEFT JOIN libraries l ON l.id = i.transit_to_library_id
		LEFT JOIN reservations r ON r.item_id = i.id LEFT JOIN libraries p ON p.id = r.pickup_library_id
		WHERE i.barcode LIKE '%-97%' ORDER BY i.barcode, r.placed_at`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var v [10]*string
		dest := make([]any, len(v))
		for i := range v {
			dest[i] = &v[i]
		}
		if err := rows.Scan(dest...); err != nil {
			t.Fatal(err)
		}
		line := ""
		for _, x := range v {
			if x != nil {
				line += *x + " "
			} else {
				line += "NULL "
			}
		}
		t.Log(line)
	}
}
