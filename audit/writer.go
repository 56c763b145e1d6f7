package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/patronfed/patronfed/clock"
	"github.com/patronfed/patronfed/store"
)

// ErrClosed is returned by Record after Close.
var ErrClosed = errors.New("audit: writer is closed")

const (
	// queueSize bounds the requests waiting for the writer goroutine;
	// callers block (until their context ends) when it is full.
	queueSize = 1024
	// maxBatchRows bounds one group commit.
	maxBatchRows = 2000
	// writeTimeout bounds one group commit; it is not tied to any caller's
	// context because the batch serves many callers.
	writeTimeout = 15 * time.Second
)

// Writer appends entries to the audit log with group commit. It is safe for
// concurrent use.
type Writer struct {
	db  *pgxpool.Pool
	clk clock.Clock
	log *slog.Logger

	reqs chan *request
	done chan struct{}

	mu     sync.RWMutex // held for reading while sending to reqs
	closed bool

	// The chain head this writer last wrote; only the writer goroutine
	// uses these.
	headKnown bool
	headSeq   int64
	headHash  []byte

	batches, oneStatement atomic.Int64
	m                     *writerMetrics
}

// WriterStats counts the group commits of a Writer.
type WriterStats struct {
	// Batches written, and how many of them in one statement (the rest
	// locked the chain head in a transaction).
	Batches, OneStatement int64
}

// Stats returns the writer's counters.
func (w *Writer) Stats() WriterStats {
	return WriterStats{Batches: w.batches.Load(), OneStatement: w.oneStatement.Load()}
}

type request struct {
	rows []row // Seq and Input filled in by the writer goroutine
	raw  []json.RawMessage
	done chan error
}

// NewWriter starts the writer goroutine; Close stops it.
func NewWriter(db *pgxpool.Pool, clk clock.Clock, log *slog.Logger) *Writer {
	if clk == nil {
		clk = clock.Real{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := &Writer{db: db, clk: clk, log: log, reqs: make(chan *request, queueSize), done: make(chan struct{}), m: newWriterMetrics()}
	go w.loop()
	return w
}

// Record appends entries and returns once they are committed (nil), or the
// reason they may not be (then the caller must not return the data it was
// about to). All entries of one call commit together.
func (w *Writer) Record(ctx context.Context, entries ...Entry) error {
	if len(entries) == 0 {
		return nil
	}
	r := &request{rows: make([]row, len(entries)), raw: make([]json.RawMessage, len(entries)), done: make(chan error, 1)}
	now := w.clk.Now()
	for i, e := range entries {
		if err := toRow(&r.rows[i], e, now); err != nil {
			return err
		}
		r.raw[i] = e.Input
		if len(r.raw[i]) == 0 {
			r.raw[i] = json.RawMessage("{}")
		} else if !json.Valid(r.raw[i]) {
			return errors.New("audit: entry input is not valid JSON")
		}
	}
	start := time.Now()
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return ErrClosed
	}
	select {
	case w.reqs <- r:
		w.mu.RUnlock()
	case <-ctx.Done():
		w.mu.RUnlock()
		return ctx.Err()
	}
	select {
	case err := <-r.done:
		w.m.wait.Observe(since(start))
		return err
	case <-ctx.Done():
		// The rows may still commit; the caller returns no data either way.
		return ctx.Err()
	}
}

// Close stops accepting entries, writes those already queued and waits for
// the writer goroutine to end.
func (w *Writer) Close() {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.reqs)
	}
	w.mu.Unlock()
	<-w.done
}

func (w *Writer) loop() {
	defer close(w.done)
	for r := range w.reqs {
		batch := []*request{r}
		n := len(r.rows)
	more:
		for n < maxBatchRows {
			select {
			case r2, ok := <-w.reqs:
				if !ok {
					break more
				}
				batch = append(batch, r2)
				n += len(r2.rows)
			default:
				break more
			}
		}
		start := time.Now()
		err := w.write(batch)
		w.m.commit.Observe(since(start))
		w.m.entries.Observe(float64(n))
		if err != nil {
			w.m.failed.Inc()
			// The error comes from pgx/PostgreSQL about rows of ids only;
			// log the SQLSTATE and not the message to stay on the safe side.
			w.log.Error("audit: writing entries failed", "entries", n, "sqlstate", sqlState(err))
			err = fmt.Errorf("audit: entries not written: %w", err)
		}
		for _, r := range batch {
			r.done <- err
		}
	}
}

// write appends every row of batch, all or none.
//
// The writer remembers the chain head it last wrote. When it knows the
// head and renders every input's jsonb text itself (jsonbText), a batch is
// one statement — one round trip and one commit — that moves the head only
// if it is still the remembered one, and inserts the rows only if it moved
// it. Otherwise (first batch, another replica wrote in between, an input
// only the database can normalise) it locks the head in a transaction and
// asks the database.
func (w *Writer) write(batch []*request) error {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	var raws []string
	for _, r := range batch {
		for _, j := range r.raw {
			raws = append(raws, string(j))
		}
	}
	if w.headKnown {
		if inputs, ok := renderInputs(batch, len(raws)); ok {
			cols, seq, h := chain(batch, w.headSeq, w.headHash, inputs)
			var n int64
			err := w.db.QueryRow(ctx, `WITH head AS (
				UPDATE audit_chain_head SET seq = $18, hash = $19 WHERE id = 1 AND seq = $20 AND hash = $21 RETURNING 1),
			ins AS (`+insertRows+` WHERE EXISTS (SELECT 1 FROM head) RETURNING 1)
			SELECT count(*) FROM ins`, append(cols.args(), seq, h, w.headSeq, w.headHash)...).Scan(&n)
			if err != nil {
				w.headKnown = false
				return err
			}
			if n == int64(len(raws)) {
				w.headSeq, w.headHash = seq, h
				w.batches.Add(1)
				w.oneStatement.Add(1)
				return nil
			}
			// Another replica moved the head: nothing was written.
			w.headKnown = false
		}
	}
	// Two statements per batch whatever its size (docs/performance.md):
	// lock the head and normalise the inputs, then insert every row and
	// move the head in one statement.
	var seq int64
	var h []byte
	err := store.InTx(ctx, w.db, pgx.TxOptions{}, func(tx pgx.Tx) error {
		var head int64
		prev := make([]byte, 0, HashSize)
		// Hash the input exactly as the database will return it.
		var inputs []string
		if err := tx.QueryRow(ctx, `SELECT h.seq, h.hash,
			(SELECT array_agg(t::jsonb::text ORDER BY i) FROM unnest($1::text[]) WITH ORDINALITY AS u(t, i))
			FROM audit_chain_head h WHERE h.id = 1 FOR UPDATE`, raws).Scan(&head, &prev, &inputs); err != nil {
			return err
		}
		var cols *auditColumns
		cols, seq, h = chain(batch, head, prev, inputs)
		_, err := tx.Exec(ctx, `WITH ins AS (`+insertRows+`)
			UPDATE audit_chain_head SET seq = $18, hash = $19 WHERE id = 1`, append(cols.args(), seq, h)...)
		return err
	})
	if err != nil {
		w.headKnown = false
		return err
	}
	w.headKnown, w.headSeq, w.headHash = true, seq, h
	w.batches.Add(1)
	return nil
}

// insertRows inserts the rows given as columns $1..$17 (auditColumns.args).
const insertRows = `INSERT INTO audit_log (seq, at, request_id, actor_kind, actor_id, actor_library_id, actor_roles,
		token_id, action, patron_id, allowed, reasons, fields, policy_version, input, prev_hash, hash)
	SELECT u.seq, u.at, u.request_id, u.actor_kind, u.actor_id::uuid, u.actor_library_id::uuid, u.actor_roles::text[],
		u.token_id, u.action, u.patron_id::uuid, u.allowed, u.reasons::text[], u.fields::text[], u.policy_version,
		u.input::jsonb, u.prev_hash, u.hash
	FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
		$8::text[], $9::text[], $10::text[], $11::boolean[], $12::text[], $13::text[], $14::bigint[],
		$15::text[], $16::bytea[], $17::bytea[])
		AS u(seq, at, request_id, actor_kind, actor_id, actor_library_id, actor_roles, token_id, action, patron_id,
			allowed, reasons, fields, policy_version, input, prev_hash, hash)`

// renderInputs is every input of batch as jsonb text, if jsonbText can
// render them all.
func renderInputs(batch []*request, n int) ([]string, bool) {
	inputs := make([]string, 0, n)
	for _, r := range batch {
		for _, j := range r.raw {
			t, ok := jsonbText(j)
			if !ok {
				return nil, false
			}
			inputs = append(inputs, t)
		}
	}
	return inputs, true
}

// chain numbers and hashes the rows of batch after the head (seq, prev),
// with inputs their jsonb texts in order, and returns them by column with
// the new head.
func chain(batch []*request, seq int64, prev []byte, inputs []string) (*auditColumns, int64, []byte) {
	n := len(inputs)
	cols := &auditColumns{
		seq: make([]int64, n), at: make([]time.Time, n), requestID: make([]string, n), actorKind: make([]string, n),
		actorID: make([]*string, n), actorLibraryID: make([]*string, n), actorRoles: make([]string, n), tokenID: make([]string, n),
		action: make([]string, n), patronID: make([]*string, n), allowed: make([]bool, n), reasons: make([]string, n),
		fields: make([]string, n), policyVersion: make([]int64, n), input: make([]string, n), prevHash: make([][]byte, n), hash: make([][]byte, n),
	}
	k := 0
	for _, r := range batch {
		for i := range r.rows {
			rw := r.rows[i] // copy: a retried transaction starts again from the head
			seq++
			rw.Seq = seq
			rw.Input = inputs[k]
			h := chainHash(prev, &rw)
			cols.set(k, &rw, prev, h)
			prev = h
			k++
		}
	}
	return cols, seq, prev
}

// auditColumns are a batch's rows by column, for one INSERT ... SELECT
// FROM unnest. The text[] columns travel as array literals, one per row.
type auditColumns struct {
	seq                               []int64
	at                                []time.Time
	requestID, actorKind              []string
	actorID, actorLibraryID, patronID []*string
	actorRoles, reasons, fields       []string
	tokenID, action, input            []string
	allowed                           []bool
	policyVersion                     []int64
	prevHash, hash                    [][]byte
}

func (c *auditColumns) args() []any {
	return []any{c.seq, c.at, c.requestID, c.actorKind, c.actorID, c.actorLibraryID, c.actorRoles,
		c.tokenID, c.action, c.patronID, c.allowed, c.reasons, c.fields, c.policyVersion,
		c.input, c.prevHash, c.hash}
}

func (c *auditColumns) set(k int, rw *row, prev, h []byte) {
	c.seq[k], c.at[k], c.requestID[k], c.actorKind[k] = rw.Seq, time.UnixMicro(rw.AtMicros), rw.RequestID, rw.ActorKind
	c.actorID[k], c.actorLibraryID[k], c.actorRoles[k] = rw.ActorID, rw.ActorLibraryID, arrayLiteral(rw.ActorRoles)
	c.tokenID[k], c.action[k], c.patronID[k], c.allowed[k] = rw.TokenID, rw.Action, rw.PatronID, rw.Allowed
	c.reasons[k], c.fields[k], c.policyVersion[k] = arrayLiteral(rw.Reasons), arrayLiteral(rw.Fields), rw.PolicyVersion
	c.input[k], c.prevHash[k], c.hash[k] = rw.Input, prev, h
}

// arrayLiteral renders ss as a PostgreSQL text[] literal, every element
// quoted, so that any string (commas, braces, quotes, NULL) round-trips.
func arrayLiteral(ss []string) string {
	var b strings.Builder
	n := 2
	for _, s := range ss {
		n += len(s) + 3 // quotes and comma; escapes may grow it once more
	}
	b.Grow(n)
	b.WriteByte('{')
	for i, s := range ss {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		for j := 0; j < len(s); j++ {
			if s[j] == '"' || s[j] == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(s[j])
		}
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

// toRow checks and normalises e into the stored form.
func toRow(r *row, e Entry, now time.Time) error {
	at := e.At
	if at.IsZero() {
		at = now
	}
	if e.ActorKind == "" || e.Action == "" {
		return errors.New("audit: entry needs an actor kind and an action")
	}
	var err error
	*r = row{
		AtMicros:      at.UnixMicro(),
		RequestID:     e.RequestID,
		ActorKind:     e.ActorKind,
		ActorRoles:    nonNil(e.ActorRoles),
		TokenID:       e.TokenID,
		Action:        e.Action,
		Allowed:       e.Allowed,
		Reasons:       nonNil(e.Reasons),
		Fields:        nonNil(e.Fields),
		PolicyVersion: e.PolicyVersion,
	}
	if r.ActorID, err = optionalUUID(e.ActorID, "actor id"); err != nil {
		return err
	}
	if r.ActorLibraryID, err = optionalUUID(e.ActorLibraryID, "actor library id"); err != nil {
		return err
	}
	if r.PatronID, err = optionalUUID(e.PatronID, "patron id"); err != nil {
		return err
	}
	return nil
}

// optionalUUID returns nil for "" and the canonical (lower-case) text of a
// UUID, which is what uuid::text gives back, so the hash verifies.
func optionalUUID(s, what string) (*string, error) {
	if s == "" {
		return nil, nil
	}
	if _, err := uuid.Parse(s); err != nil || len(s) != 36 {
		return nil, fmt.Errorf("audit: %s is not a UUID", what)
	}
	// 36 characters that parse are the hyphenated form; only the case
	// may differ from uuid::text (ToLower returns s itself when it is
	// already lower case).
	c := strings.ToLower(s)
	return &c, nil
}

func nonNil(ss []string) []string {
	if ss == nil {
		return []string{}
	}
	return ss
}

func sqlState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	return "n/a"
}
