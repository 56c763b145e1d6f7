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
	return store.InTx(ctx, w.db, pgx.TxOptions{}, func(tx pgx.Tx) error {
		var seq int64
		prev := make([]byte, 0, HashSize)
		if err := tx.QueryRow(ctx, `SELECT seq, hash FROM audit_chain_head WHERE id = 1 FOR UPDATE`).Scan(&seq, &prev); err != nil {
			return err
		}
		// Hash the input exactly as the database will return it.
		var inputs []string
		if err := tx.QueryRow(ctx, `SELECT array_agg(t::jsonb::text ORDER BY i) FROM unnest($1::text[]) WITH ORDINALITY AS u(t, i)`, raws).Scan(&inputs); err != nil {
			return err
		}
		b := &pgx.Batch{}
		k := 0
		for _, r := range batch {
			for i := range r.rows {
				rw := r.rows[i] // copy: a retried transaction starts again from the head
				seq++
				rw.Seq = seq
				rw.Input = inputs[k]
				k++
				h := chainHash(prev, &rw)
				b.Queue(`INSERT INTO audit_log (seq, at, request_id, actor_kind, actor_id, actor_library_id, actor_roles,
					token_id, action, patron_id, allowed, reasons, fields, policy_version, input, prev_hash, hash)
					VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15::jsonb, $16, $17)`,
					rw.Seq, time.UnixMicro(rw.AtMicros), rw.RequestID, rw.ActorKind, rw.ActorID, rw.ActorLibraryID, rw.ActorRoles,
					rw.TokenID, rw.Action, rw.PatronID, rw.Allowed, rw.Reasons, rw.Fields, rw.PolicyVersion, rw.Input, prev, h)
				prev = h
			}
		}
		b.Queue(`UPDATE audit_chain_head SET seq = $1, hash = $2 WHERE id = 1`, seq, prev)
		return tx.SendBatch(ctx, b).Close()
	})
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
