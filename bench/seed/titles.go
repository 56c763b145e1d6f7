package seed

import (
	"math/rand/v2"
	"slices"
	"time"
)

// Catalogue records and title holds (generator version 6).
//
// A consortium's items are copies of titles in a union catalogue: most
// titles have one copy, a few are held by most member libraries. Patrons
// wait for a bestseller in its title's queue (a title hold, served by the
// first copy checked in), and a small title's queue is one to three
// patrons long.
const (
	// bestsellerCopies: a record with this many copies or more is a
	// bestseller; its queue is up to twice as long as it has copies.
	bestsellerCopies = 10
	// Shares of the records with a copy on loan that have patrons waiting
	// in their title's queue.
	bestsellerQueueShare = 0.4
	smallQueueShare      = 0.1
	// titleHoldShare of the holds that reached the hold shelf (fulfilled
	// and ready) were title holds, captured by that copy.
	titleHoldShare = 0.5
	// titleQueueRows estimates the title queues' rows per item (for the
	// progress bar).
	titleQueueRows = 0.08
)

// copiesOf draws how many copies a record has: 1 (58 %), 2–3 (28 %),
// 4–9 (12 %), or a bestseller's 10–40 (2 %).
func copiesOf(r *rand.Rand) int {
	switch u := r.Float64(); {
	case u < 0.02:
		return bestsellerCopies + r.IntN(31)
	case u < 0.14:
		return 4 + r.IntN(6)
	case u < 0.42:
		return 2 + r.IntN(2)
	}
	return 1
}

// records lays the items out as copies of catalogue records: the copies
// of a record are consecutive items (each owned by a library of its own
// draw, so they spread over the consortium).
func (g *gen) records() {
	g.recOf = make([]int32, g.o.Items)
	g.recFirst = g.recFirst[:0]
	for n, rec := 0, 0; n < g.o.Items; rec++ {
		g.recFirst = append(g.recFirst, int32(n))
		c := copiesOf(g.rng(streamRecord, uint64(rec)))
		for end := min(n+c, g.o.Items); n < end; n++ {
			g.recOf[n] = int32(rec)
		}
	}
	g.recFirst = append(g.recFirst, int32(g.o.Items))
}

// recordTitle is the title of record rec, which its copies share.
func recordTitle(rec int32) string { return titles[int(rec)%len(titles)] }

// titleHold is a generated hold in a title's queue: waiting for a copy.
type titleHold struct {
	record int32
	k      int16 // its place in the record's draw (the id's stream row)
	hold
}

// copyState is what a title's queue must respect of one copy: whether
// it is on loan, to whom, and who holds it (the active holds on it).
type copyState struct {
	owner   int
	onLoan  bool
	loanee  [16]byte
	holders [][16]byte
}

// titleQueue draws the patrons waiting in record rec's queue, given its
// copies, as PlaceRecordReservation leaves them: a patron may borrow at
// the pickup library (the owner of one of the copies), waits for the
// title once, and neither borrows a copy of it nor holds one already. A
// title has a queue only while a copy is on loan (the first one back is
// captured for the oldest hold).
func (g *gen) titleQueue(rec int32, copies []copyState, out []titleHold) []titleHold {
	onLoan := slices.ContainsFunc(copies, func(c copyState) bool { return c.onLoan })
	if !onLoan {
		return out
	}
	r := g.rng(streamTitleQueue, uint64(rec))
	now := g.o.Now
	start := len(out)
	n := 0
	if len(copies) >= bestsellerCopies {
		if r.Float64() < bestsellerQueueShare {
			n = 1 + r.IntN(2*len(copies))
		}
	} else if r.Float64() < smallQueueShare {
		n = oneToThree(r)
	}
	taken := func(id [16]byte) bool {
		for _, c := range copies {
			if c.onLoan && c.loanee == id || slices.Contains(c.holders, id) {
				return true
			}
		}
		return slices.ContainsFunc(out[start:], func(t titleHold) bool { return t.patron == id })
	}
	for k := range n {
		lib := copies[r.IntN(len(copies))].owner
		pn, ok := g.borrower(r.Float64(), r.IntN(1<<30), lib)
		id := g.patronID(int(pn))
		if !ok || taken(id) {
			continue
		}
		placed := between(r, now.AddDate(0, 0, -120), now.Add(-time.Hour))
		out = append(out, titleHold{record: rec, k: int16(k), hold: hold{patron: id, pickup: lib, status: "active",
			placed: placed, expires: now.Add(time.Duration(14+r.IntN(351)) * day)}})
	}
	return out
}

// wasTitleHold draws whether hold k of item n, which reached the hold
// shelf (fulfilled, or ready there now), was placed on the title.
func (g *gen) wasTitleHold(n, k int) bool {
	return g.rng(streamTitleHold, uint64(n)<<8|uint64(k)).Float64() < titleHoldShare
}
