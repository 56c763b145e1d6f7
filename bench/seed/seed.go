// Package seed generates a realistic library consortium at scale — up to
// millions of patrons and loans — for load and performance runs. It writes
// with COPY (pgx.CopyFrom), several tables at a time, with the secondary
// indexes dropped during the load and rebuilt afterwards, and reports its
// progress.
//
// The rows are what the services write: national identifiers and ID
// document numbers are sealed with the instance's keyring (AES-GCM bound to
// patron and kind, with the blind index), optional contact data exists only
// with the optional-data consent, every share consent has its history event,
// every active loan's item is on loan (one active loan per item), the
// item's last borrower is the patron of its latest returned loan, and the
// reservations (since version 5) are as circulation leaves them: waiting
// holds on copies on loan, ready ones with their copy on the pickup
// library's hold shelf, and fulfilled, cancelled and expired history.
// Since version 6 every item is a copy of a catalogue record (a title:
// most have one copy, bestsellers one in most libraries), and patrons wait
// in titles' queues (title holds, captured by the first copy checked in);
// half of the holds that reached the hold shelf were title holds. Everything
// is derived from Options.Seed and the row number, so a run is
// reproducible (ids included) except for the ciphertexts' random nonces.
//
// Distribution: patrons and items are spread over the libraries with Zipf
// weights (the first library, LIB01, is the big city library; the last is
// a village library), and cross-library consents also go preferentially to
// the big libraries, so LIB01 has many consents and LIB30 few. Names are
// common Czech names in frequency order.
package seed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/patronfed/patronfed/auth"
	"github.com/patronfed/patronfed/pii"
)

// Version changes whenever the generator produces different data for the
// same options (the load harness keeps one database per version).
const Version = 6

// Options shape a consortium.
type Options struct {
	Patrons   int // default 1 000 000
	Libraries int // default 30 (at most 99)
	// Items defaults to Patrons.
	Items int
	// Loans is the total number of loans, active and history (default 5×Patrons).
	Loans int
	// ActiveShare is the share of loans still active (default 0.04).
	ActiveShare float64
	// ExpiredShare is the share of returned loans older than the default
	// history retention (12 months) and so due for anonymisation
	// (default 0.21: with the defaults, ≈1 M of 4.8 M).
	ExpiredShare float64
	// ConsentShare is the share of patrons who consented to share their
	// record with at least one other library (default 0.25).
	ConsentShare float64
	// Seed makes the consortium reproducible (default 1).
	Seed uint64
	// Now is the time the data is generated around (default time.Now()).
	Now time.Time
	// Progress receives a progress bar (nil: none).
	Progress io.Writer
	// HashParams hash the shared staff password and patron PIN (default
	// auth.DefaultParams).
	HashParams auth.Params
	// Password of every generated staff account; PIN of every patron.
	Password, PIN string
	// AuditRows is the number of audit log entries: desks' reads of
	// patrons over the last AuditDays days (default Patrons; negative:
	// none).
	AuditRows int
}

func (o *Options) defaults() {
	if o.Patrons <= 0 {
		o.Patrons = 1_000_000
	}
	if o.Libraries <= 0 {
		o.Libraries = 30
	}
	o.Libraries = min(o.Libraries, 99)
	if o.Items <= 0 {
		o.Items = o.Patrons
	}
	if o.Loans <= 0 {
		o.Loans = 5 * o.Patrons
	}
	if o.ActiveShare <= 0 {
		o.ActiveShare = 0.04
	}
	if o.ExpiredShare <= 0 {
		o.ExpiredShare = 0.21
	}
	if o.ConsentShare <= 0 {
		o.ConsentShare = 0.25
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	o.Now = o.Now.UTC().Truncate(time.Second)
	if o.HashParams == (auth.Params{}) {
		o.HashParams = auth.DefaultParams
	}
	if o.Password == "" {
		o.Password = "demo-password-2026"
	}
	if o.PIN == "" {
		o.PIN = "1234"
	}
	if o.AuditRows == 0 {
		o.AuditRows = o.Patrons
	}
}

// Library is one generated member library.
type Library struct {
	Code, ID string
	// Patrons registered here; Consents: patrons of other libraries who
	// consented to share with it.
	Patrons, Consents int
}

// Result describes what Run generated.
type Result struct {
	Libraries                             []Library
	Patrons, Cards, Identifiers           int64
	Consents, ConsentEvents, Items, Loans int64
	ActiveLoans, ExpiredLoans             int64
	// Records: catalogue records (titles) the items are copies of.
	Records int64
	// Reservations: all; Waiting and Ready: the active ones not yet and
	// already on a hold shelf; TitleWaiting: of the waiting ones, those in
	// a title's queue (no copy captured yet).
	Reservations, Waiting, Ready, TitleWaiting int64
	AuditEntries                               int64
	Duration                                   time.Duration
}

// LibraryCode is the code of library i (0-based): LIB01, LIB02, ...
func LibraryCode(i int) string { return fmt.Sprintf("LIB%02d", i+1) }

// StaffUsername is the username of a generated staff account of library i
// with role one of "circ", "reg", "manager".
func StaffUsername(i int, role string) string { return fmt.Sprintf("lib%02d.%s", i+1, role) }

// CardNumber is the active card of generated patron n.
func CardNumber(n int) string { return fmt.Sprintf("P%08d", n) }

// Barcode is the barcode of generated item n.
func Barcode(n int) string { return fmt.Sprintf("I%08d", n) }

// RecordID is the catalogue record id of generated record n (as the
// Czech union catalogue, SKC, numbers its records).
func RecordID(n int) string { return fmt.Sprintf("SKC%09d", n+1) }

// ErrSeeded is returned when the database already holds a generated
// consortium.
var ErrSeeded = errors.New("seed: the database already holds a generated consortium (library LIB01 exists)")

// Run generates the consortium into db, which must be migrated and
// connected as a role that owns the tables (to drop and rebuild indexes);
// a superuser also skips foreign-key triggers during the load
// (session_replication_role = replica: the generator only writes rows whose
// references exist).
func Run(ctx context.Context, db *pgxpool.Pool, kr *pii.Keyring, o Options) (*Result, error) {
	o.defaults()
	start := time.Now()
	var n int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM libraries WHERE code = 'LIB01'`).Scan(&n); err != nil {
		return nil, err
	}
	if n > 0 {
		return nil, ErrSeeded
	}
	g := newGen(o)
	if err := g.setup(ctx, db); err != nil {
		return nil, err
	}
	g.model()
	res := &Result{}
	for i := range o.Libraries {
		res.Libraries = append(res.Libraries, Library{Code: LibraryCode(i), ID: uuid.UUID(g.libs[i]).String(),
			Patrons: len(g.byHome[i]), Consents: len(g.consenting[i])})
	}

	indexes, err := dropIndexes(ctx, db, loadTables)
	if err != nil {
		return nil, err
	}
	// Rebuild even if the load fails, so the schema is whole again.
	defer func() {
		if len(indexes) > 0 {
			_ = rebuildIndexes(context.WithoutCancel(ctx), db, indexes, nil)
		}
	}()

	p := newProgress(o.Progress, g.estimateRows())
	p.start()
	type task struct {
		table string
		cols  []string
		src   func() pgx.CopyFromSource
		count *int64
	}
	tasks := []task{
		{"loans", loanCols, func() pgx.CopyFromSource { return g.loanSource(p) }, &res.Loans},
		{"reservations", holdCols, func() pgx.CopyFromSource { return g.holdSource(p) }, &res.Reservations},
		{"patrons", patronCols, func() pgx.CopyFromSource { return g.patronSource(p) }, &res.Patrons},
		{"items", itemCols, func() pgx.CopyFromSource { return g.itemSource(p) }, &res.Items},
		{"cards", cardCols, func() pgx.CopyFromSource { return g.cardSource(p) }, &res.Cards},
		{"patron_identifiers", identifierCols, func() pgx.CopyFromSource { return g.identifierSource(p, kr) }, &res.Identifiers},
		{"consents", consentCols, func() pgx.CopyFromSource { return g.consentSource(p) }, &res.Consents},
		{"consent_events", eventCols, func() pgx.CopyFromSource { return g.eventSource(p) }, &res.ConsentEvents},
	}
	eg, ectx := errgroup.WithContext(ctx)
	eg.SetLimit(3)
	for _, t := range tasks {
		eg.Go(func() error {
			conn, err := db.Acquire(ectx)
			if err != nil {
				return err
			}
			defer conn.Release()
			loadSession(ectx, conn.Conn())
			n, err := conn.Conn().CopyFrom(ectx, pgx.Identifier{t.table}, t.cols, t.src())
			if err != nil {
				return fmt.Errorf("seed: copying %s: %w", t.table, err)
			}
			*t.count = n
			return nil
		})
	}
	err = eg.Wait()
	p.stop()
	if err != nil {
		return nil, err
	}
	p.phase("rebuilding indexes")
	idx := indexes
	indexes = nil
	if err := rebuildIndexes(ctx, db, idx, o.Progress); err != nil {
		return nil, err
	}
	if o.AuditRows > 0 {
		p.phase(fmt.Sprintf("audit log (%s entries)", human(int64(o.AuditRows))))
		if res.AuditEntries, err = g.auditHistory(ctx, db, o.AuditRows); err != nil {
			return nil, err
		}
	}
	p.phase("vacuum analyze")
	for _, t := range append(loadTables, "libraries", "accounts", "library_settings", "audit_log") {
		if _, err := db.Exec(ctx, "VACUUM (ANALYZE) "+pgx.Identifier{t}.Sanitize()); err != nil {
			return nil, fmt.Errorf("seed: vacuum %s: %w", t, err)
		}
	}
	_, _ = db.Exec(ctx, "CHECKPOINT")
	res.ActiveLoans, res.ExpiredLoans = g.activeLoans.Load(), g.expiredLoans.Load()
	res.Waiting, res.Ready, res.TitleWaiting = g.waiting.Load(), g.ready.Load(), g.titleWaiting.Load()
	res.Records = int64(len(g.recFirst) - 1)
	res.Duration = time.Since(start)
	return res, nil
}

var loadTables = []string{"patrons", "cards", "patron_identifiers", "consents", "consent_events", "items", "loans", "reservations"}

// loadSession sets up a COPY connection: no per-row foreign-key triggers
// (superuser only; ignored otherwise) and no wait for the WAL flush of the
// bulk load's own commits (the load is not a measured write).
func loadSession(ctx context.Context, c *pgx.Conn) {
	_, _ = c.Exec(ctx, `SET session_replication_role = replica`)
	_, _ = c.Exec(ctx, `SET synchronous_commit = off`)
}

type index struct{ Name, Def string }

// dropIndexes drops the secondary indexes of tables (those no constraint
// uses) and returns their definitions.
func dropIndexes(ctx context.Context, db *pgxpool.Pool, tables []string) ([]index, error) {
	rows, err := db.Query(ctx, `
		SELECT ic.relname, pg_get_indexdef(i.indexrelid)
		FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid
		WHERE t.relnamespace = 'public'::regnamespace AND t.relname = ANY($1)
		  AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
		ORDER BY t.relname, ic.relname`, tables)
	if err != nil {
		return nil, err
	}
	idx, err := pgx.CollectRows(rows, pgx.RowToStructByPos[index])
	if err != nil {
		return nil, err
	}
	for _, x := range idx {
		if _, err := db.Exec(ctx, "DROP INDEX "+pgx.Identifier{x.Name}.Sanitize()); err != nil {
			return nil, fmt.Errorf("seed: dropping index %s: %w", x.Name, err)
		}
	}
	return idx, nil
}

func rebuildIndexes(ctx context.Context, db *pgxpool.Pool, idx []index, progress io.Writer) error {
	eg, ectx := errgroup.WithContext(ctx)
	eg.SetLimit(2)
	var done atomic.Int32
	for _, x := range idx {
		eg.Go(func() error {
			conn, err := db.Acquire(ectx)
			if err != nil {
				return err
			}
			defer conn.Release()
			_, _ = conn.Exec(ectx, `SET maintenance_work_mem = '1GB'`)
			if _, err := conn.Exec(ectx, x.Def); err != nil {
				return fmt.Errorf("seed: rebuilding index %s: %w", x.Name, err)
			}
			if progress != nil {
				fmt.Fprintf(progress, "  index %-40s (%d/%d)\n", x.Name, done.Add(1), len(idx))
			}
			return nil
		})
	}
	return eg.Wait()
}

// gen holds the consortium model: libraries, staff, and which patrons each
// library has and sees, so loans can pick borrowers a library may lend to.
type gen struct {
	o          Options
	libs       [][16]byte
	registrars [][16]byte // per library
	pinHash    string
	libZipf    zipf
	byHome     [][]int32 // library → patrons registered there
	consenting [][]int32 // library → patrons consenting to it
	// recOf: item → its catalogue record; recFirst: record → its first
	// item (the copies of a record are consecutive items), and one more
	// entry, the number of items.
	recOf, recFirst []int32

	perLoanItem  float64 // history loans per item
	pActive      float64
	activeLoans  atomic.Int64
	expiredLoans atomic.Int64
	waiting      atomic.Int64
	ready        atomic.Int64
	titleWaiting atomic.Int64
}

func newGen(o Options) *gen {
	g := &gen{o: o, libZipf: newZipf(o.Libraries, 0.9)}
	loansPerItem := float64(o.Loans) / float64(o.Items)
	g.pActive = min(1, o.ActiveShare*loansPerItem)
	g.perLoanItem = loansPerItem - g.pActive
	return g
}

// setup inserts libraries (their settings rows come from the trigger) and
// staff accounts, and hashes the shared secrets once.
func (g *gen) setup(ctx context.Context, db *pgxpool.Pool) error {
	hash, err := auth.HashSecret(g.o.Password, g.o.HashParams)
	if err != nil {
		return err
	}
	if g.pinHash, err = auth.HashSecret(g.o.PIN, g.o.HashParams); err != nil {
		return err
	}
	tx, err := db.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	for i := range g.o.Libraries {
		var id uuid.UUID
		city := cities[i%len(cities)]
		if err := tx.QueryRow(ctx, `INSERT INTO libraries (code, name, country) VALUES ($1, $2, 'CZ') RETURNING id`,
			LibraryCode(i), "Městská knihovna "+city).Scan(&id); err != nil {
			return fmt.Errorf("seed: library: %w", err)
		}
		g.libs = append(g.libs, id)
		for _, s := range []struct{ role, name string }{
			{"circ", "circulation"}, {"reg", "registrar"}, {"manager", "manager"},
		} {
			var acc uuid.UUID
			roles := []string{s.name}
			if err := tx.QueryRow(ctx, `INSERT INTO accounts (kind, username, display_name, library_id, roles, password_hash)
				VALUES ('staff', $1, $2, $3, $4, $5) RETURNING id`,
				StaffUsername(i, s.role), "Staff "+StaffUsername(i, s.role), id, roles, hash).Scan(&acc); err != nil {
				return fmt.Errorf("seed: staff account: %w", err)
			}
			if s.role == "reg" {
				g.registrars = append(g.registrars, acc)
			}
		}
	}
	// A few more circulation desks per library: hundreds of staff clients.
	for i := range g.o.Libraries {
		for d := 2; d <= 5; d++ {
			u := fmt.Sprintf("lib%02d.circ%d", i+1, d)
			if _, err := tx.Exec(ctx, `INSERT INTO accounts (kind, username, display_name, library_id, roles, password_hash)
				VALUES ('staff', $1, $2, $3, '{circulation}', $4)`, u, "Staff "+u, uuid.UUID(g.libs[i]), hash); err != nil {
				return fmt.Errorf("seed: staff account: %w", err)
			}
		}
	}
	return tx.Commit(ctx)
}

// model computes every patron's home library and consents (for borrower
// choice and the result), and the catalogue records of the items.
func (g *gen) model() {
	g.records()
	g.byHome = make([][]int32, g.o.Libraries)
	g.consenting = make([][]int32, g.o.Libraries)
	var p patron
	for n := range g.o.Patrons {
		g.patron(n, &p)
		g.byHome[p.home] = append(g.byHome[p.home], int32(n))
		for _, c := range p.consents {
			g.consenting[c.lib] = append(g.consenting[c.lib], int32(n))
		}
	}
}

func (g *gen) estimateRows() int64 {
	o := g.o
	return int64(float64(o.Patrons)*(1+1.05+0.62+2*o.ConsentShare*1.4+0.4) + float64(o.Items) + float64(o.Loans)*(1+fulfilledShare) +
		float64(o.Items)*(cancelledShare+lapsedShare+o.ActiveShare*waitingShare*1.45+titleQueueRows))
}

// rng returns the generator of row n of a stream: the same row always
// gets the same values.
func (g *gen) rng(stream, n uint64) *rand.Rand {
	return rand.New(rand.NewPCG(g.o.Seed*0x9E3779B97F4A7C15+stream, n))
}

// uuidOf is a deterministic version-4 UUID for row n of a stream.
func (g *gen) uuidOf(stream, n uint64) [16]byte {
	r := rand.NewPCG(g.o.Seed^0x5EED0000+stream<<40, n*0x2545F4914F6CDD1D+1)
	var u [16]byte
	a, b := r.Uint64(), r.Uint64()
	for i := range 8 {
		u[i] = byte(a >> (8 * i))
		u[8+i] = byte(b >> (8 * i))
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u
}

const (
	streamPatron = 1
	streamItem   = 2
	streamHold   = 4 // 3 is the audit log's
	// Since generator version 6: the copies of each record, its title
	// queue (and the queue's reservation ids), and which of an item's
	// holds were title holds.
	streamRecord     = 5
	streamTitleQueue = 6
	streamTitleHold  = 7
)

func (g *gen) patronID(n int) [16]byte { return g.uuidOf(streamPatron, uint64(n)) }

type consentOf struct {
	lib int
	at  time.Time
	web bool
}

// patron is one generated patron record.
type patron struct {
	n                        int
	id                       [16]byte
	home                     int
	first, last              string
	birth                    time.Time
	perm, contact            string
	optional                 bool
	optionalAt               time.Time
	email, phone, titles     string
	category, tongue         string
	registered, lastActivity time.Time
	guardian                 [4]string
	special                  []string
	consents                 []consentOf
	idDoc, national          string
	oldCard                  bool
}

var (
	day   = 24 * time.Hour
	month = 30 * day
	year  = 365 * day
)

func between(r *rand.Rand, a, b time.Time) time.Time {
	if !b.After(a) {
		return a
	}
	return a.Add(time.Duration(r.Int64N(int64(b.Sub(a))))).Truncate(time.Second)
}

func (g *gen) patron(n int, p *patron) {
	r := g.rng(streamPatron, uint64(n))
	now := g.o.Now
	*p = patron{n: n, id: g.patronID(n), consents: p.consents[:0]}
	p.home = g.libZipf.pick(r.Float64())
	female := r.IntN(2) == 0
	p.last = surname(r, female)
	if female {
		p.first = femaleFirst[firstNameZipf.pick(r.Float64())]
	} else {
		p.first = maleFirst[firstNameZipf.pick(r.Float64())]
	}
	p.birth = between(r, time.Date(1935, 1, 1, 0, 0, 0, 0, time.UTC), now.Add(-4*year)).Truncate(day)
	age := now.Sub(p.birth).Hours() / 24 / 365.25
	city := cities[p.home%len(cities)]
	p.perm = fmt.Sprintf("%s %d, %03d %02d %s", streets[r.IntN(len(streets))], 1+r.IntN(120), 100+r.IntN(700), r.IntN(100), city)
	if r.Float64() < 0.2 {
		p.contact = fmt.Sprintf("%s %d, %03d %02d %s", streets[r.IntN(len(streets))], 1+r.IntN(120), 100+r.IntN(700), r.IntN(100), cities[r.IntN(len(cities))])
	}
	reg := now.Add(-time.Duration(r.Int64N(int64(10 * year))))
	if earliest := p.birth.Add(4 * year); reg.Before(earliest) {
		reg = between(r, earliest, now)
	}
	p.registered = reg.Truncate(time.Second)
	// Everyone was active within the archive period (18 months), so a
	// retention run works on loan history, not on archiving.
	p.lastActivity = between(r, maxTime(p.registered, now.Add(-17*month)), now)
	if r.Float64() < 0.4 {
		p.optional = true
		p.optionalAt = between(r, p.registered, now)
		p.email = fmt.Sprintf("%s.%d@example.cz", asciiLower(p.last), n)
		p.phone = fmt.Sprintf("+420 %03d %03d %03d", 600+r.IntN(200), r.IntN(1000), r.IntN(1000))
		if age > 24 && r.Float64() < 0.12 {
			p.titles = []string{"Ing.", "Mgr.", "Bc.", "MUDr.", "PhDr."}[r.IntN(5)]
		}
	}
	switch {
	case age < 15:
		p.category = "child"
		p.guardian = [4]string{maleFirst[r.IntN(len(maleFirst))] + " " + surname(r, false), p.perm,
			fmt.Sprintf("+420 %03d %03d %03d", 600+r.IntN(200), r.IntN(1000), r.IntN(1000)), ""}
	case age >= 65:
		p.category = "senior"
	case age < 26 && r.IntN(2) == 0:
		p.category = "student"
	default:
		p.category = "adult"
	}
	p.tongue = "cs"
	if r.Float64() < 0.08 {
		p.tongue = []string{"sk", "uk", "vi", "ru", "de", "pl"}[r.IntN(6)]
	}
	if r.Float64() < 0.01 {
		p.special = []string{"accessible_media"}
	}
	if r.Float64() < g.o.ConsentShare {
		for range oneToThree(r) {
			lib := g.libZipf.pick(r.Float64())
			if lib == p.home || hasLib(p.consents, lib) {
				continue
			}
			p.consents = append(p.consents, consentOf{lib: lib, at: between(r, p.registered, now), web: r.Float64() < 0.3})
		}
	}
	if age >= 15 && r.Float64() < 0.6 {
		p.idDoc = fmt.Sprintf("%09d", 100000000+r.IntN(900000000))
	}
	if r.Float64() < 0.15 {
		p.national = fmt.Sprintf("%s-%07d", p.birth.Format("20060102"), n)
	}
	p.oldCard = r.Float64() < 0.05
}

// oneToThree is 1 (65 %), 2 (25 %) or 3 (10 %): libraries a patron
// consents to, patrons waiting for a copy.
func oneToThree(r *rand.Rand) int {
	switch u := r.Float64(); {
	case u < 0.1:
		return 3
	case u < 0.35:
		return 2
	}
	return 1
}

func hasLib(cs []consentOf, lib int) bool {
	for _, c := range cs {
		if c.lib == lib {
			return true
		}
	}
	return false
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func pow(x, y float64) float64 { return math.Pow(x, y) }

var asciiFold = strings.NewReplacer("á", "a", "č", "c", "ď", "d", "é", "e", "ě", "e", "í", "i", "ň", "n", "ó", "o",
	"ř", "r", "š", "s", "ť", "t", "ú", "u", "ů", "u", "ý", "y", "ž", "z", "Č", "c", "Ř", "r", "Š", "s", "Ž", "z")

func asciiLower(s string) string { return strings.ToLower(asciiFold.Replace(s)) }

// uuidText is the canonical text of u, as id::text returns it.
func uuidText(u [16]byte) string { return uuid.UUID(u).String() }
