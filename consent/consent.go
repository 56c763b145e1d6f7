package consent

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/patronfed/patronfed/store"
)

func init() {
	store.RegisterConstraint("consents_library_id_fkey", "library_id", "no such library")
	store.RegisterConstraint("consent_events_library_id_fkey", "library_id", "no such library")
}

// Querier runs SQL: *pgxpool.Pool, *pgx.Conn and pgx.Tx all satisfy it.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Scopes of a consent.
const (
	ScopeShare        = "share"         // share the record with one member library
	ScopeOptionalData = "optional_data" // keep optional contact data
)

// Methods: how a consent was given or withdrawn.
const (
	MethodInPerson = "in_person"
	MethodWeb      = "web"
)

// Actor is who made a change, and how.
type Actor struct {
	Kind      string // "patron" or "staff"
	ID        string // the patron, or the staff account
	LibraryID string // staff only
	Method    string
	RequestID string
}

// Change is a grant or a withdrawal.
type Change struct {
	PatronID  string
	Scope     string
	LibraryID string // ScopeShare only
	Grant     bool
}

// Apply makes the change and records it in the history, in the caller's
// transaction. It reports whether anything changed: granting a consent in
// force, or withdrawing one not given, changes nothing and records nothing.
// A NotFound status if there is no such patron; INVALID_ARGUMENT for an
// unknown library or the patron's own home library.
func Apply(ctx context.Context, q Querier, c Change, a Actor, at time.Time) (bool, error) {
	var home string
	err := q.QueryRow(ctx, `SELECT home_library_id::text FROM patrons WHERE id = $1 FOR UPDATE`, c.PatronID).Scan(&home)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, status.Error(codes.NotFound, "patron not found")
	}
	if err != nil {
		return false, err
	}
	var tag pgconn.CommandTag
	switch {
	case c.Scope == ScopeShare:
		if c.LibraryID == home {
			return false, store.InvalidField("library_id", "the home library always sees its patrons; consent is for other member libraries")
		}
		var exists bool
		if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM libraries WHERE id = $1)`, c.LibraryID).Scan(&exists); err != nil {
			return false, err
		}
		if !exists {
			return false, store.InvalidField("library_id", "no such library")
		}
		if c.Grant {
			tag, err = q.Exec(ctx, `INSERT INTO consents (patron_id, library_id, granted_at, method) VALUES ($1, $2, $3, $4)
				ON CONFLICT DO NOTHING`, c.PatronID, c.LibraryID, at, a.Method)
		} else {
			tag, err = q.Exec(ctx, `DELETE FROM consents WHERE patron_id = $1 AND library_id = $2`, c.PatronID, c.LibraryID)
		}
	case c.Scope == ScopeOptionalData && c.Grant:
		tag, err = q.Exec(ctx, `UPDATE patrons SET optional_data_consent = true, optional_data_consent_at = $2,
			version = version + 1, updated_at = $2 WHERE id = $1 AND NOT optional_data_consent`, c.PatronID, at)
	case c.Scope == ScopeOptionalData:
		// The optional data goes with the consent, in this transaction.
		tag, err = q.Exec(ctx, `UPDATE patrons SET optional_data_consent = false, optional_data_consent_at = NULL,
			email = NULL, phone = NULL, academic_titles = NULL,
			version = version + 1, updated_at = $2 WHERE id = $1 AND optional_data_consent`, c.PatronID, at)
	default:
		return false, store.InvalidField("scope", "unknown scope")
	}
	if err != nil {
		return false, err
	}
	if tag.RowsAffected() == 0 {
		return false, nil
	}
	return true, LogEvent(ctx, q, c, a, at)
}

// LogEvent appends c to the patron's consent history without changing the
// consents in force (for a consent given at registration, where the patron
// row is inserted with it).
func LogEvent(ctx context.Context, q Querier, c Change, a Actor, at time.Time) error {
	var lib, actorLib *string
	if c.Scope == ScopeShare {
		lib = &c.LibraryID
	}
	if a.Kind == "staff" && a.LibraryID != "" {
		actorLib = &a.LibraryID
	}
	_, err := q.Exec(ctx, `INSERT INTO consent_events (patron_id, at, scope, library_id, granted, method,
		actor_kind, actor_id, actor_library_id, request_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		c.PatronID, at, c.Scope, lib, c.Grant, a.Method, a.Kind, a.ID, actorLib, a.RequestID)
	return err
}

// LibraryConsent is a consent in force to share with one library.
type LibraryConsent struct {
	LibraryID string
	GrantedAt time.Time
	Method    string
}

// State is the consents of a patron in force now.
type State struct {
	PatronID          string
	OptionalData      bool
	OptionalDataSince *time.Time
	Libraries         []LibraryConsent
}

// Current returns the consents in force; a NotFound status if there is no
// such patron.
func Current(ctx context.Context, q Querier, patronID string) (State, error) {
	s := State{PatronID: patronID}
	err := q.QueryRow(ctx, `SELECT optional_data_consent, optional_data_consent_at FROM patrons WHERE id = $1`, patronID).
		Scan(&s.OptionalData, &s.OptionalDataSince)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, status.Error(codes.NotFound, "patron not found")
	}
	if err != nil {
		return s, err
	}
	rows, err := q.Query(ctx, `SELECT library_id::text, granted_at, method FROM consents WHERE patron_id = $1
		ORDER BY granted_at, library_id`, patronID)
	if err != nil {
		return s, err
	}
	s.Libraries, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (LibraryConsent, error) {
		var l LibraryConsent
		err := r.Scan(&l.LibraryID, &l.GrantedAt, &l.Method)
		return l, err
	})
	return s, err
}

// Event is one change in the history.
type Event struct {
	ID             int64
	At             time.Time
	Scope          string
	LibraryID      string
	Granted        bool
	Method         string
	ActorKind      string
	ActorID        string
	ActorLibraryID string
}

// History returns up to limit changes, newest first, older than the event
// with id before (0: from the newest).
func History(ctx context.Context, q Querier, patronID string, limit int, before int64) ([]Event, error) {
	rows, err := q.Query(ctx, `
		SELECT id, at, scope, coalesce(library_id::text, ''), granted, method, actor_kind, actor_id::text,
		  coalesce(actor_library_id::text, '')
		FROM consent_events WHERE patron_id = $1 AND ($2 = 0 OR id < $2)
		ORDER BY id DESC LIMIT $3`, patronID, before, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Event, error) {
		var e Event
		err := r.Scan(&e.ID, &e.At, &e.Scope, &e.LibraryID, &e.Granted, &e.Method, &e.ActorKind, &e.ActorID, &e.ActorLibraryID)
		return e, err
	})
}
