package auditquery

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Querier runs queries: a pool, a connection or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Entry is one audit log row, without the stored policy input.
type Entry struct {
	Seq            int64
	At             time.Time
	RequestID      string
	ActorKind      string
	ActorID        string
	ActorLibraryID string
	ActorRoles     []string
	TokenID        string
	Action         string
	PatronID       string
	Allowed        bool
	Reasons        []string
	Fields         []string
	PolicyVersion  int64
}

// Filter selects entries; zero fields do not filter.
type Filter struct {
	ActorID        string
	ActorLibraryID string
	PatronID       string
	TokenID        string
	Action         string
	Allowed        *bool
	From, To       time.Time // [From, To)
}

// where builds the conditions of f, numbering parameters after args.
func (f Filter) where(args []any) (string, []any) {
	var conds []string
	add := func(cond string, v any) {
		args = append(args, v)
		conds = append(conds, fmt.Sprintf(cond, len(args)))
	}
	if f.ActorID != "" {
		add("actor_id = $%d", f.ActorID)
	}
	if f.ActorLibraryID != "" {
		add("actor_library_id = $%d", f.ActorLibraryID)
	}
	if f.PatronID != "" {
		add("patron_id = $%d", f.PatronID)
	}
	if f.TokenID != "" {
		add("token_id = $%d", f.TokenID)
	}
	if f.Action != "" {
		add("action = $%d", f.Action)
	}
	if f.Allowed != nil {
		add("allowed = $%d", *f.Allowed)
	}
	if !f.From.IsZero() {
		add("at >= $%d", f.From)
	}
	if !f.To.IsZero() {
		add("at < $%d", f.To)
	}
	if len(conds) == 0 {
		return "true", args
	}
	return strings.Join(conds, " AND "), args
}

// List returns up to limit entries matching f with seq below before (0:
// from the newest), newest first.
func List(ctx context.Context, q Querier, f Filter, before int64, limit int) ([]Entry, error) {
	where, args := f.where(nil)
	if before > 0 {
		args = append(args, before)
		where += fmt.Sprintf(" AND seq < $%d", len(args))
	}
	args = append(args, limit)
	rows, err := q.Query(ctx, `
		SELECT seq, at, coalesce(request_id, ''), coalesce(actor_kind, ''), coalesce(actor_id::text, ''),
		       coalesce(actor_library_id::text, ''), coalesce(actor_roles, '{}'), coalesce(token_id, ''), action,
		       coalesce(patron_id::text, ''), allowed, coalesce(reasons, '{}'), coalesce(fields, '{}'),
		       coalesce(policy_version, 0)
		FROM audit_log WHERE `+where+fmt.Sprintf(` ORDER BY seq DESC LIMIT $%d`, len(args)), args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Entry, error) {
		var e Entry
		err := r.Scan(&e.Seq, &e.At, &e.RequestID, &e.ActorKind, &e.ActorID, &e.ActorLibraryID, &e.ActorRoles,
			&e.TokenID, &e.Action, &e.PatronID, &e.Allowed, &e.Reasons, &e.Fields, &e.PolicyVersion)
		return e, err
	})
}
