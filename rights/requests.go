package rights

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Querier runs SQL: a pgx.Tx, a pool or a connection.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Deadline is how long the library has to answer (§4.1, §4.2).
const Deadline = 30 * 24 * time.Hour

// Kinds of request.
const (
	KindAccess  = "access"
	KindErasure = "erasure"
)

// Statuses of a request.
const (
	StatusPending   = "pending"
	StatusFulfilled = "fulfilled"
	StatusRefused   = "refused"
)

// Actor kinds: who asked or answered.
const (
	ActorPatron = "patron"
	ActorStaff  = "staff"
)

// Actor is who acts: the patron themselves, or a staff account (ID).
type Actor struct {
	Kind string
	ID   string // staff only
}

func (a Actor) account() *string {
	if a.Kind == ActorStaff && a.ID != "" {
		return &a.ID
	}
	return nil
}

// Request is one access or erasure request.
type Request struct {
	ID, PatronID, LibraryID string
	Kind, Status            string
	RequestedBy             Actor
	RequestedAt, DueAt      time.Time
	ClosedAt                *time.Time
	ClosedBy                Actor
	RefusalReasons          []string
}

// Overdue reports whether the request is pending past its deadline.
func (r *Request) Overdue(now time.Time) bool {
	return r.Status == StatusPending && now.After(r.DueAt)
}

// ErrNotFound is the status of a request that does not exist (or that the
// caller may not see: the service says the same either way).
var ErrNotFound = status.Error(codes.NotFound, "no such rights request")

const requestCols = `id::text, patron_id::text, library_id::text, kind, status, requested_by_kind,
	coalesce(requested_by::text, ''), requested_at, due_at, closed_at, coalesce(closed_by_kind, ''),
	coalesce(closed_by::text, ''), refusal_reasons`

func scanRequest(row pgx.Row) (Request, error) {
	var r Request
	err := row.Scan(&r.ID, &r.PatronID, &r.LibraryID, &r.Kind, &r.Status, &r.RequestedBy.Kind, &r.RequestedBy.ID,
		&r.RequestedAt, &r.DueAt, &r.ClosedAt, &r.ClosedBy.Kind, &r.ClosedBy.ID, &r.RefusalReasons)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, ErrNotFound
	}
	return r, err
}

// Create records a request of kind for the patron, due Deadline after now,
// owed by the patron's home library.
func Create(ctx context.Context, q Querier, patronID, kind string, by Actor, now time.Time) (Request, error) {
	return scanRequest(q.QueryRow(ctx, `
		INSERT INTO rights_requests (patron_id, library_id, kind, requested_by_kind, requested_by, requested_at, due_at)
		SELECT id, home_library_id, $2, $3, $4, $5, $6 FROM patrons WHERE id = $1
		RETURNING `+requestCols, patronID, kind, by.Kind, by.account(), now, now.Add(Deadline)))
}

// Get returns a request; lock it (FOR UPDATE) to close it.
func Get(ctx context.Context, q Querier, id string, lock bool) (Request, error) {
	sql := `SELECT ` + requestCols + ` FROM rights_requests WHERE id = $1`
	if lock {
		sql += ` FOR UPDATE`
	}
	return scanRequest(q.QueryRow(ctx, sql, id))
}

// Filter selects requests for List.
type Filter struct {
	LibraryID string // the library that must answer
	PatronID  string
	// PendingOnly, OverdueOnly (as of Now) narrow the list.
	PendingOnly, OverdueOnly bool
	Now                      time.Time
	Limit, Offset            int
}

// List returns requests by deadline, earliest first.
func List(ctx context.Context, q Querier, f Filter) ([]Request, error) {
	rows, err := q.Query(ctx, `SELECT `+requestCols+` FROM rights_requests
		WHERE ($1 = '' OR library_id = nullif($1, '')::uuid) AND ($2 = '' OR patron_id = nullif($2, '')::uuid)
		  AND (NOT $3 OR status = 'pending') AND (NOT $4 OR (status = 'pending' AND due_at < $5))
		ORDER BY due_at, id LIMIT $6 OFFSET $7`,
		f.LibraryID, f.PatronID, f.PendingOnly, f.OverdueOnly, f.Now, f.Limit, f.Offset)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Request, error) { return scanRequest(r) })
}

// Close closes a pending request as fulfilled or refused (with reasons).
func Close(ctx context.Context, q Querier, id, status string, by Actor, reasons []string, now time.Time) (Request, error) {
	if reasons == nil {
		reasons = []string{}
	}
	return scanRequest(q.QueryRow(ctx, `UPDATE rights_requests
		SET status = $2, closed_at = $3, closed_by_kind = $4, closed_by = $5, refusal_reasons = $6
		WHERE id = $1 AND status = 'pending' RETURNING `+requestCols, id, status, now, by.Kind, by.account(), reasons))
}
