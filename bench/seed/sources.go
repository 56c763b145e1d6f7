package seed

import (
	"cmp"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/patronfed/patronfed/pii"
)

// rowSource is a pgx.CopyFromSource over generated entities (patrons or
// items): fill appends the rows of entity n to buf.
type rowSource struct {
	n, total int
	fill     func(n int, buf [][]any) ([][]any, error)
	buf      [][]any
	i        int
	cur      []any
	p        *progress
	err      error
}

func (s *rowSource) Next() bool {
	for s.i >= len(s.buf) {
		if s.n >= s.total || s.err != nil {
			return false
		}
		s.buf, s.err = s.fill(s.n, s.buf[:0])
		s.i = 0
		s.n++
		if s.err != nil {
			return false
		}
	}
	s.cur = s.buf[s.i]
	s.i++
	s.p.add(1)
	return true
}

func (s *rowSource) Values() ([]any, error) { return s.cur, nil }
func (s *rowSource) Err() error             { return s.err }

func nz(s string) any {
	if s == "" {
		return nil
	}
	return s
}

var patronCols = []string{"id", "home_library_id", "pin_hash", "first_name", "last_name", "birth_date",
	"permanent_address", "contact_address", "email", "phone", "academic_titles", "optional_data_consent",
	"optional_data_consent_at", "category", "registered_at", "last_activity_at", "mother_tongue",
	"guardian_name", "guardian_address", "guardian_phone", "guardian_email", "special_categories",
	"version", "created_at", "updated_at"}

func (g *gen) patronSource(pr *progress) pgx.CopyFromSource {
	var p patron
	return &rowSource{total: g.o.Patrons, p: pr, fill: func(n int, buf [][]any) ([][]any, error) {
		g.patron(n, &p)
		var optAt any
		if p.optional {
			optAt = p.optionalAt
		}
		special := p.special
		if special == nil {
			special = []string{}
		}
		return append(buf, []any{p.id, g.libs[p.home], g.pinHash, p.first, p.last, p.birth,
			p.perm, nz(p.contact), nz(p.email), nz(p.phone), nz(p.titles), p.optional,
			optAt, p.category, p.registered, p.lastActivity, p.tongue,
			nz(p.guardian[0]), nz(p.guardian[1]), nz(p.guardian[2]), nz(p.guardian[3]), special,
			int64(1), p.registered, p.lastActivity}), nil
	}}
}

var cardCols = []string{"card_number", "patron_id", "active", "issued_at", "revoked_at"}

func (g *gen) cardSource(pr *progress) pgx.CopyFromSource {
	var p patron
	return &rowSource{total: g.o.Patrons, p: pr, fill: func(n int, buf [][]any) ([][]any, error) {
		g.patron(n, &p)
		issued := p.registered
		if p.oldCard {
			// A lost card replaced a year after registration (or now).
			repl := minTime(p.registered.Add(year), g.o.Now)
			buf = append(buf, []any{"R" + CardNumber(n)[1:], p.id, false, p.registered, repl})
			issued = repl
		}
		return append(buf, []any{CardNumber(n), p.id, true, issued, nil}), nil
	}}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

var identifierCols = []string{"patron_id", "kind", "ciphertext", "key_id", "blind_index", "created_at"}

// identifierSource seals like patron.Register: AAD (patron id, kind), the
// blind index of the kind.
func (g *gen) identifierSource(pr *progress, kr *pii.Keyring) pgx.CopyFromSource {
	var p patron
	seal := func(buf [][]any, kind, v string) ([][]any, error) {
		ct, keyID, err := kr.Seal([]byte(v), pii.AAD(uuidText(p.id), kind))
		if err != nil {
			return buf, err
		}
		return append(buf, []any{p.id, kind, ct, keyID, kr.BlindIndex(kind, v), p.registered}), nil
	}
	return &rowSource{total: g.o.Patrons, p: pr, fill: func(n int, buf [][]any) ([][]any, error) {
		g.patron(n, &p)
		var err error
		if p.idDoc != "" {
			if buf, err = seal(buf, pii.KindIDDocument, p.idDoc); err != nil {
				return buf, err
			}
		}
		if p.national != "" {
			if buf, err = seal(buf, pii.KindPersonalIdentityNumber, p.national); err != nil {
				return buf, err
			}
		}
		return buf, nil
	}}
}

var consentCols = []string{"patron_id", "library_id", "granted_at", "method"}

func method(web bool) string {
	if web {
		return "web"
	}
	return "in_person"
}

func (g *gen) consentSource(pr *progress) pgx.CopyFromSource {
	var p patron
	return &rowSource{total: g.o.Patrons, p: pr, fill: func(n int, buf [][]any) ([][]any, error) {
		g.patron(n, &p)
		for _, c := range p.consents {
			buf = append(buf, []any{p.id, g.libs[c.lib], c.at, method(c.web)})
		}
		return buf, nil
	}}
}

var eventCols = []string{"patron_id", "at", "scope", "library_id", "granted", "method",
	"actor_kind", "actor_id", "actor_library_id", "request_id"}

// eventSource writes the history of the consents in force: given at the
// desk (recorded by the home library's registrar) or in the catalogue by
// the patron, as consent.Apply and consent.LogEvent record them.
func (g *gen) eventSource(pr *progress) pgx.CopyFromSource {
	var p patron
	return &rowSource{total: g.o.Patrons, p: pr, fill: func(n int, buf [][]any) ([][]any, error) {
		g.patron(n, &p)
		if p.optional {
			buf = append(buf, []any{p.id, p.optionalAt, "optional_data", nil, true, "in_person",
				"staff", g.registrars[p.home], g.libs[p.home], ""})
		}
		for _, c := range p.consents {
			if c.web {
				buf = append(buf, []any{p.id, c.at, "share", g.libs[c.lib], true, "web", "patron", p.id, nil, ""})
			} else {
				buf = append(buf, []any{p.id, c.at, "share", g.libs[c.lib], true, "in_person",
					"staff", g.registrars[p.home], g.libs[p.home], ""})
			}
		}
		return buf, nil
	}}
}

var holdCols = []string{"id", "item_id", "patron_id", "pickup_library_id", "status", "placed_at", "expires_at",
	"finished_at", "ready_at", "notified_at", "record_id"}

// holdSource writes the reservations, like loanSource in the order a live
// table holds them: by when each row was last written (its end, or for an
// active one its shelving or placing). It walks the items record by
// record, so that each title's queue is drawn knowing its copies.
func (g *gen) holdSource(pr *progress) pgx.CopyFromSource {
	type row struct {
		item   int32 // -1: a hold in a title's queue, queue[queued]
		queued int32
		k      int16 // index among the item's holds (the id's stream row)
		// onTitle: an item hold that was placed on the copy's title.
		onTitle bool
		written int64
	}
	var (
		it     item
		rows   []row
		queue  []titleHold
		copies []copyState
		onRec  [][16]byte // patrons with an active hold on the record's title
	)
	for rec := range len(g.recFirst) - 1 {
		copies, onRec = copies[:0], onRec[:0]
		for n := int(g.recFirst[rec]); n < int(g.recFirst[rec+1]); n++ {
			g.item(n, &it)
			c := copyState{owner: it.owner, onLoan: it.active}
			if it.active {
				c.loanee = it.loans[len(it.loans)-1].patron
			}
			for k, h := range it.holds {
				w := h.finished
				onTitle := false
				switch {
				case !w.IsZero():
					onTitle = h.status == "fulfilled" && g.wasTitleHold(n, k)
				case !h.ready.IsZero():
					w = h.ready
					g.ready.Add(1)
					c.holders = append(c.holders, h.patron)
					if g.wasTitleHold(n, k) && !slices.Contains(onRec, h.patron) {
						onTitle = true
						onRec = append(onRec, h.patron)
					}
				default:
					w = h.placed
					g.waiting.Add(1)
					c.holders = append(c.holders, h.patron)
				}
				rows = append(rows, row{item: int32(n), k: int16(k), onTitle: onTitle, written: w.Unix()})
			}
			copies = append(copies, c)
		}
		before := len(queue)
		queue = g.titleQueue(int32(rec), copies, queue)
		for i := before; i < len(queue); i++ {
			g.waiting.Add(1)
			g.titleWaiting.Add(1)
			rows = append(rows, row{item: -1, queued: int32(i), written: queue[i].placed.Unix()})
		}
	}
	slices.SortFunc(rows, func(a, b row) int {
		return cmp.Or(cmp.Compare(a.written, b.written), cmp.Compare(a.item, b.item), cmp.Compare(a.queued, b.queued),
			cmp.Compare(a.k, b.k))
	})
	opt := func(t time.Time) any {
		if t.IsZero() {
			return nil
		}
		return t
	}
	last := int32(-1)
	return &rowSource{total: len(rows), p: pr, fill: func(n int, buf [][]any) ([][]any, error) {
		r := rows[n]
		if r.item < 0 {
			t := queue[r.queued]
			return append(buf, []any{g.uuidOf(streamTitleQueue, uint64(t.record)<<8|uint64(t.k)), nil, t.patron, g.libs[t.pickup],
				t.status, t.placed, t.expires, nil, nil, nil, RecordID(int(t.record))}), nil
		}
		if r.item != last {
			g.item(int(r.item), &it)
			last = r.item
		}
		h := it.holds[r.k]
		var record any
		if r.onTitle {
			record = RecordID(int(it.record))
		}
		return append(buf, []any{g.uuidOf(streamHold, uint64(r.item)<<8|uint64(r.k)), it.id, h.patron, g.libs[h.pickup],
			h.status, h.placed, h.expires, opt(h.finished), opt(h.ready), opt(h.notified), record}), nil
	}}
}

// loan is one generated loan of an item.
type loan struct {
	patron     [16]byte
	out, due   time.Time
	returned   time.Time // zero: active
	expired    bool
	lendingLib int
}

type item struct {
	id           [16]byte
	owner        int
	created      time.Time
	loans        []loan
	active       bool
	lastBorrower *[16]byte
	record       int32 // the catalogue record it is a copy of
	title        string
	holds        []hold
	// shelved: on its owning library's hold shelf for its ready hold.
	shelved bool
}

// hold is one generated reservation of an item: history (fulfilled,
// cancelled or expired) or active (waiting, or ready on the hold shelf).
type hold struct {
	patron                    [16]byte
	pickup                    int
	status                    string
	placed, expires, finished time.Time // finished zero: active
	ready, notified           time.Time // zero: never
}

// borrower picks a patron library lib may lend to: one of its own (85%)
// or one who consented to it.
func (g *gen) borrower(u float64, k int, lib int) (int32, bool) {
	home, cons := g.byHome[lib], g.consenting[lib]
	switch {
	case len(cons) > 0 && (u >= 0.85 || len(home) == 0):
		return cons[k%len(cons)], true
	case len(home) > 0:
		return home[k%len(home)], true
	}
	return 0, false
}

func (g *gen) item(n int, it *item) {
	r := g.rng(streamItem, uint64(n))
	now := g.o.Now
	*it = item{id: g.uuidOf(streamItem, uint64(n)), loans: it.loans[:0]}
	it.owner = g.libZipf.pick(r.Float64())
	it.created = now.Add(-3*year - time.Duration(r.Int64N(int64(5*year)))).Truncate(time.Second)
	// Version 5's title is still drawn, so that the loans stay version
	// 4's; the copy has its record's.
	_ = r.IntN(len(titles))
	it.record = g.recOf[n]
	it.title = recordTitle(it.record)
	k := int(-g.perLoanItem*logOneMinus(r.Float64()) + 0.5)
	cutoff := now.AddDate(0, -12, 0)
	var last time.Time
	for range k {
		pn, ok := g.borrower(r.Float64(), r.IntN(1<<30), it.owner)
		if !ok {
			continue
		}
		var ret time.Time
		expired := r.Float64() < g.o.ExpiredShare
		if expired {
			ret = between(r, now.AddDate(0, -36, 0), cutoff.Add(-3*day))
		} else {
			ret = between(r, cutoff.Add(3*day), now.Add(-time.Hour))
		}
		out := ret.Add(-time.Duration(3+r.IntN(38)) * day)
		l := loan{patron: g.patronID(int(pn)), out: out, due: out.Add(28 * day), returned: ret, expired: expired,
			lendingLib: it.owner}
		it.loans = append(it.loans, l)
		if ret.After(last) {
			last = ret
			pid := l.patron
			it.lastBorrower = &pid
		}
	}
	if r.Float64() < g.pActive {
		if pn, ok := g.borrower(r.Float64(), r.IntN(1<<30), it.owner); ok {
			out := now.Add(-time.Duration(r.Int64N(int64(45 * day)))).Truncate(time.Second)
			it.loans = append(it.loans, loan{patron: g.patronID(int(pn)), out: out, due: out.Add(28 * day), lendingLib: it.owner})
			it.active = true
		}
	}
	g.holds(n, it)
}

// Shares of the generated reservations (generator version 5).
const (
	fulfilledShare = 0.10  // of returned loans: the copy was collected from the hold shelf
	cancelledShare = 0.05  // of items: one hold cancelled in the last two years
	lapsedShare    = 0.03  // of items: one hold that expired unfilled
	waitingShare   = 0.30  // of items on loan: one to three patrons wait
	readyShare     = 0.006 // of available items: on the hold shelf for a patron
)

// holds generates item n's reservations from their own stream, so the
// items and loans are those of generator version 4. The active ones are
// as the circulation code leaves them: nobody holds the copy they
// borrow, a patron holds a copy once, and a ready hold's copy is on its
// pickup library's hold shelf, expiring the default pickup_days (7)
// after it was shelved.
func (g *gen) holds(n int, it *item) {
	r := g.rng(streamHold, uint64(n))
	now := g.o.Now
	it.holds, it.shelved = it.holds[:0], false
	for _, l := range it.loans {
		if l.returned.IsZero() || r.Float64() >= fulfilledShare {
			continue
		}
		placed := l.out.Add(-time.Duration(1+r.IntN(13*24)) * time.Hour)
		ready := between(r, placed, l.out)
		h := hold{patron: l.patron, pickup: l.lendingLib, status: "fulfilled", placed: placed,
			expires: placed.Add(14 * day), finished: l.out, ready: ready}
		if r.Float64() < 0.9 {
			h.notified = ready.Add(time.Duration(r.IntN(3600)) * time.Second)
		}
		it.holds = append(it.holds, h)
	}
	for _, f := range []struct {
		share  float64
		status string
	}{{cancelledShare, "cancelled"}, {lapsedShare, "expired"}} {
		if r.Float64() >= f.share {
			continue
		}
		pn, ok := g.borrower(r.Float64(), r.IntN(1<<30), it.owner)
		if !ok {
			continue
		}
		placed := between(r, now.AddDate(0, -24, 0), now.Add(-30*day))
		h := hold{patron: g.patronID(int(pn)), pickup: it.owner, status: f.status, placed: placed, expires: placed.Add(14 * day)}
		h.finished = h.expires
		if f.status == "cancelled" {
			h.finished = placed.Add(time.Duration(1+r.IntN(10*24)) * time.Hour)
		}
		it.holds = append(it.holds, h)
	}
	if it.active {
		borrower := it.loans[len(it.loans)-1]
		if r.Float64() >= waitingShare {
			return
		}
		for range oneToThree(r) {
			pn, ok := g.borrower(r.Float64(), r.IntN(1<<30), it.owner)
			id := g.patronID(int(pn))
			if !ok || id == borrower.patron || slices.ContainsFunc(it.holds, func(h hold) bool { return h.finished.IsZero() && h.patron == id }) {
				continue
			}
			// The patron's "not needed after" date: two weeks to a year ahead.
			it.holds = append(it.holds, hold{patron: id, pickup: it.owner, status: "active",
				placed: between(r, borrower.out, now.Add(-time.Hour)), expires: now.Add(time.Duration(14+r.IntN(351)) * day)})
		}
		return
	}
	if r.Float64() >= readyShare {
		return
	}
	pn, ok := g.borrower(r.Float64(), r.IntN(1<<30), it.owner)
	if !ok {
		return
	}
	ready := now.Add(-time.Duration(r.Int64N(int64(6 * day)))).Truncate(time.Second)
	h := hold{patron: g.patronID(int(pn)), pickup: it.owner, status: "active",
		placed: ready.Add(-time.Duration(1+r.IntN(20*24)) * time.Hour), expires: ready.Add(7 * day), ready: ready}
	if n := ready.Add(2 * time.Hour); r.Float64() < 0.9 && n.Before(now) {
		h.notified = n
	}
	it.holds = append(it.holds, h)
	it.shelved = true
}

func logOneMinus(u float64) float64 { return logf(1 - u) }

var itemCols = []string{"id", "barcode", "title", "owning_library_id", "status", "last_borrower_id", "hold_shelf_library_id",
	"record_id", "created_at", "updated_at"}

func (g *gen) itemSource(pr *progress) pgx.CopyFromSource {
	var it item
	return &rowSource{total: g.o.Items, p: pr, fill: func(n int, buf [][]any) ([][]any, error) {
		g.item(n, &it)
		status := "available"
		if it.active {
			status = "on_loan"
		}
		var lb any
		if it.lastBorrower != nil {
			lb = *it.lastBorrower
		}
		var shelf any
		if it.shelved {
			shelf = g.libs[it.owner]
		}
		return append(buf, []any{it.id, Barcode(n), it.title, g.libs[it.owner], status, lb, shelf, RecordID(int(it.record)),
			it.created, it.created}), nil
	}}
}

var loanCols = []string{"item_id", "patron_id", "lending_library_id", "checked_out_at", "due_at", "renewals",
	"returned_at", "return_library_id"}

// loanSource writes the loans in the order a live table holds them: a
// row is last written when the loan is returned (or, if active, when it
// was checked out), and PostgreSQL puts each new version where there is
// room, at the end of a growing table. So the history sits in return
// order, as retention's time-ordered walk meets it in production, not
// item by item as the generator makes it.
func (g *gen) loanSource(pr *progress) pgx.CopyFromSource {
	type row struct {
		patron        [16]byte
		item          int32
		lib           int16
		out, returned int64 // unix seconds; returned 0: active
	}
	var (
		it   item
		rows []row
	)
	for n := range g.o.Items {
		g.item(n, &it)
		for _, l := range it.loans {
			r := row{patron: l.patron, item: int32(n), lib: int16(l.lendingLib), out: l.out.Unix()}
			if l.returned.IsZero() {
				g.activeLoans.Add(1)
			} else {
				r.returned = l.returned.Unix()
			}
			if l.expired {
				g.expiredLoans.Add(1)
			}
			rows = append(rows, r)
		}
	}
	written := func(r row) int64 { return max(r.returned, r.out) }
	slices.SortFunc(rows, func(a, b row) int {
		return cmp.Or(cmp.Compare(written(a), written(b)), cmp.Compare(a.item, b.item))
	})
	return &rowSource{total: len(rows), p: pr, fill: func(n int, buf [][]any) ([][]any, error) {
		r := rows[n]
		out := time.Unix(r.out, 0).UTC()
		id := g.uuidOf(streamItem, uint64(r.item))
		if r.returned == 0 {
			return append(buf, []any{id, r.patron, g.libs[r.lib], out, out.Add(28 * day), int32(0), nil, nil}), nil
		}
		lib := g.libs[r.lib]
		return append(buf, []any{id, r.patron, lib, out, out.Add(28 * day), int32(0), time.Unix(r.returned, 0).UTC(), lib}), nil
	}}
}
