package audit

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/patronfed/patronfed/identity"
	"github.com/patronfed/patronfed/requestid"
)

// Entry is one audited decision about patron data. It holds ids and policy
// vocabulary only, never names, card numbers or identifiers.
type Entry struct {
	// At is when the access happened; the writer's clock when zero.
	At        time.Time
	RequestID string

	ActorKind      string // "staff", "operator" or "patron"
	ActorID        string // account id, or the patron's id for a patron
	ActorLibraryID string // staff only
	ActorRoles     []string
	TokenID        string

	Action   string // the policy action, e.g. "patron.read"
	PatronID string // may be empty (e.g. a denied search)
	Allowed  bool
	Reasons  []string
	Fields   []string // field groups returned

	// PolicyVersion is the version of the policy bundle that decided
	// (1 = the built-in policy).
	PolicyVersion int64
	// Input is the policy input (ids and flags only, no personal data), so
	// a decision can be replayed against another policy.
	Input json.RawMessage
}

// EntryFor starts an entry for principal p doing action on patronID: actor,
// request id and token id filled in.
func EntryFor(ctx context.Context, p identity.Principal, action, patronID string) Entry {
	e := Entry{
		RequestID:  requestid.From(ctx),
		ActorKind:  string(p.Kind),
		ActorID:    p.ID,
		ActorRoles: p.Roles,
		TokenID:    p.TokenID,
		Action:     action,
		PatronID:   patronID,
	}
	// A patron principal's LibraryID is their home library, not a place
	// they act for; breach scoping by library concerns staff.
	if p.Kind != identity.KindPatron {
		e.ActorLibraryID = p.LibraryID
	}
	return e
}

// Querier is what Verify needs: *pgxpool.Pool, *pgx.Conn and pgx.Tx all
// satisfy it.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}
