package selfreg

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/patronfed/patronfed/store"
)

func init() {
	store.RegisterConstraint("self_registrations_first_name_check", "first_name", "must be 1-100 characters")
	store.RegisterConstraint("self_registrations_last_name_check", "last_name", "must be 1-100 characters")
	store.RegisterConstraint("self_registrations_address_check", "address", "must be 1-500 characters")
	store.RegisterConstraint("self_registrations_phone_check", "phone", "invalid phone number")
	store.RegisterConstraint("self_registrations_email_check", "email", "invalid e-mail address")
	store.RegisterConstraint("self_registrations_username_check", "username", "invalid username")
}

// Querier runs SQL: a pgx.Tx, a pool or a connection.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Request is a self-registration request; optional fields are "" when not
// given.
type Request struct {
	ID, LibraryID                string
	FirstName, LastName, Address string
	Phone, Email, Username       string
	RequestedAt, ExpiresAt       time.Time
}

// ErrNotFound is the status of a request that is not pending at the
// caller's library (or does not exist: the same answer).
var ErrNotFound = status.Error(codes.NotFound, "no pending registration request with this id at your library")

// Submit records a request at the library with code and returns it with
// its id and when retention deletes it if nobody completes it.
func Submit(ctx context.Context, q Querier, libraryCode string, r Request, now time.Time) (Request, error) {
	err := q.QueryRow(ctx, `
		INSERT INTO self_registrations (library_id, first_name, last_name, address, phone, email, username, requested_at)
		SELECT l.id, $2, $3, $4, nullif($5, ''), nullif($6, ''), nullif($7, ''), $8 FROM libraries l WHERE l.code = $1
		RETURNING id::text, library_id::text,
		  requested_at + make_interval(days => (SELECT self_registration_retention_days FROM library_settings WHERE library_id = self_registrations.library_id))`,
		libraryCode, r.FirstName, r.LastName, r.Address, r.Phone, r.Email, r.Username, now).Scan(&r.ID, &r.LibraryID, &r.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		st := status.New(codes.InvalidArgument, "invalid library_code: no such library")
		if d, derr := st.WithDetails(&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
			{Field: "library_code", Description: "no such library"}}}); derr == nil {
			st = d
		}
		return r, st.Err()
	}
	r.RequestedAt = now
	return r, err
}

const cols = `r.id::text, r.library_id::text, r.first_name, r.last_name, r.address, coalesce(r.phone, ''),
	coalesce(r.email, ''), coalesce(r.username, ''), r.requested_at,
	r.requested_at + make_interval(days => s.self_registration_retention_days)`

func scan(row pgx.Row) (Request, error) {
	var r Request
	err := row.Scan(&r.ID, &r.LibraryID, &r.FirstName, &r.LastName, &r.Address, &r.Phone, &r.Email, &r.Username,
		&r.RequestedAt, &r.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, ErrNotFound
	}
	return r, err
}

// Pending lists the pending requests at a library, oldest first.
func Pending(ctx context.Context, q Querier, libraryID string, limit, offset int) ([]Request, error) {
	rows, err := q.Query(ctx, `SELECT `+cols+` FROM self_registrations r JOIN library_settings s ON s.library_id = r.library_id
		WHERE r.library_id = $1 AND r.status = 'pending' ORDER BY r.requested_at, r.id LIMIT $2 OFFSET $3`, libraryID, limit, offset)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Request, error) { return scan(r) })
}

// Lock returns a pending request at the library, locked for the rest of
// the transaction.
func Lock(ctx context.Context, tx Querier, id, libraryID string) (Request, error) {
	return scan(tx.QueryRow(ctx, `SELECT `+cols+` FROM self_registrations r JOIN library_settings s ON s.library_id = r.library_id
		WHERE r.id = $1 AND r.library_id = $2 AND r.status = 'pending' FOR UPDATE OF r`, id, libraryID))
}

// Complete marks a locked request completed as patronID by the staff
// account, and clears its personal fields: they now live in the patron
// record (or were not kept).
func Complete(ctx context.Context, tx Querier, id, patronID, staffID string, now time.Time) error {
	_, err := tx.Exec(ctx, `UPDATE self_registrations SET status = 'completed', patron_id = $2, completed_by = $3, completed_at = $4,
		first_name = NULL, last_name = NULL, address = NULL, phone = NULL, email = NULL, username = NULL WHERE id = $1`,
		id, patronID, staffID, now)
	return err
}

// Reject deletes a pending request at the library.
func Reject(ctx context.Context, q Querier, id, libraryID string) error {
	tag, err := q.Exec(ctx, `DELETE FROM self_registrations WHERE id = $1 AND library_id = $2 AND status = 'pending'`, id, libraryID)
	if err == nil && tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return err
}
