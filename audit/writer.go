package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
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
	w := &Writer{db: db, clk: clk, log: log, reqs: make(chan *request, queueSize), done: make(chan struct{})}
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
		err := w.write(batch)
		if err != nil {
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

// write appends every row of batch in one transaction.
func (w *Writer) write(batch []*request) error {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	var raws []string
	for _, r := range batch {
		for _, j := range r.raw {
			raws = append(raws, string(j))
		}
	}
	n := len(raws)
	cols := auditColumns{
		seq: make([]int64, n), at: make([]time.Time, n), requestID: make([]string, n), actorKind: make([]string, n),
		actorID: make([]*string, n), actorLibraryID: make([]*string, n), actorRoles: make([]string, n), tokenID: make([]string, n),
		action: make([]string, n), patronID: make([]*string, n), allowed: make([]bool, n), reasons: make([]string, n),
		fields: make([]string, n), policyVersion: make([]int64, n), input: make([]string, n), prevHash: make([][]byte, n), hash: make([][]byte, n),
	}
	// Two statements per batch whatever its size (docs/performance.md):
	// lock the head and normalise the inputs, then insert every row and
	// move the head in one statement.
	return store.InTx(ctx, w.db, pgx.TxOptions{}, func(tx pgx.Tx) error {
		var seq int64
		prev := make([]byte, 0, HashSize)
		// Hash the input exactly as the database will return it.
		var inputs []string
		if err := tx.QueryRow(ctx, `SELECT h.seq, h.hash,
			(SELECT array_agg(t::jsonb::text ORDER BY i) FROM unnest($1::text[]) WITH ORDINALITY AS u(t, i))
			FROM audit_chain_head h WHERE h.id = 1 FOR UPDATE`, raws).Scan(&seq, &prev, &inputs); err != nil {
			return err
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
		_, err := tx.Exec(ctx, `WITH ins AS (
			INSERT INTO audit_log (seq, at, request_id, actor_kind, actor_id, actor_library_id, actor_roles,
				token_id, action, patron_id, allowed, reasons, fields, policy_version, input, prev_hash, hash)
			SELECT u.seq, u.at, u.request_id, u.actor_kind, u.actor_id::uuid, u.actor_library_id::uuid, u.actor_roles::text[],
				u.token_id, u.action, u.patron_id::uuid, u.allowed, u.reasons::text[], u.fields::text[], u.policy_version,
				u.input::jsonb, u.prev_hash, u.hash
			FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
				$8::text[], $9::text[], $10::text[], $11::boolean[], $12::text[], $13::text[], $14::bigint[],
				$15::text[], $16::bytea[], $17::bytea[])
				AS u(seq, at, request_id, actor_kind, actor_id, actor_library_id, actor_roles, token_id, action, patron_id,
					allowed, reasons, fields, policy_version, input, prev_hash, hash))
			UPDATE audit_chain_head SET seq = $18, hash = $19 WHERE id = 1`,
			cols.seq, cols.at, cols.requestID, cols.actorKind, cols.actorID, cols.actorLibraryID, cols.actorRoles,
			cols.tokenID, cols.action, cols.patronID, cols.allowed, cols.reasons, cols.fields, cols.policyVersion,
			cols.input, cols.prevHash, cols.hash, seq, prev)
		return err
	})
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
	u, err := uuid.Parse(s)
	if err != nil || len(s) != 36 {
		return nil, fmt.Errorf("audit: %s is not a UUID", what)
	}
	c := strings.ToLower(u.String())
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
