package logintrail

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Kinds of trail.
const (
	KindStaff    = "staff"
	KindOperator = "operator"
	KindPatron   = "patron"
)

// Trail is one account's or patron's last login.
type Trail struct {
	Kind string
	// ID is the account's or the patron's id.
	ID string
	// Username is the account's login name; empty for a patron.
	Username string
	// LibraryID is the staff member's library or the patron's home
	// library; empty for the operator.
	LibraryID string
	At        time.Time
	Address   string
}

// Filter selects trails; zero fields select everything.
type Filter struct {
	// Network holds the addresses to match (a single address is a /32 or
	// /128 network).
	Network netip.Prefix
	// From and To bound the login time: [From, To).
	From, To time.Time
	// Accounts and Patrons choose what to list; both false lists both.
	Accounts, Patrons bool
}

// Cursor is where a page ends: the last trail's time, kind and id.
type Cursor struct {
	At       time.Time
	Kind, ID string
}

// String encodes the cursor for a page token.
func (c Cursor) String() string {
	return c.At.UTC().Format(time.RFC3339Nano) + "|" + c.Kind + "|" + c.ID
}

// ParseCursor decodes Cursor.String; "" is the zero Cursor (first page).
func ParseCursor(s string) (Cursor, error) {
	if s == "" {
		return Cursor{}, nil
	}
	parts := strings.SplitN(s, "|", 3)
	if len(parts) != 3 {
		return Cursor{}, fmt.Errorf("malformed cursor")
	}
	at, err := time.Parse(time.RFC3339Nano, parts[0])
	if err != nil {
		return Cursor{}, fmt.Errorf("malformed cursor: %w", err)
	}
	return Cursor{At: at, Kind: parts[1], ID: parts[2]}, nil
}

// Querier runs a query: a pool, a connection or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// List returns up to limit trails matching f, newest first (then by kind
// and id, descending), after the cursor.
func List(ctx context.Context, q Querier, f Filter, after Cursor, limit int) ([]Trail, error) {
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	var conds []string
	if f.Network.IsValid() {
		conds = append(conds, "ip <<= "+arg(f.Network.Masked().String())+"::inet")
	}
	if !f.From.IsZero() {
		conds = append(conds, "at >= "+arg(f.From))
	}
	if !f.To.IsZero() {
		conds = append(conds, "at < "+arg(f.To))
	}
	if !after.At.IsZero() {
		conds = append(conds, "(at, kind, id) < ("+arg(after.At)+"::timestamptz, "+arg(after.Kind)+"::text, "+arg(after.ID)+"::text)")
	}
	var sources []string
	if f.Accounts || !f.Patrons {
		sources = append(sources, `SELECT kind, id::text AS id, username, coalesce(library_id::text, '') AS library_id,
			last_login_at AS at, last_login_ip AS ip FROM accounts WHERE last_login_at IS NOT NULL`)
	}
	if f.Patrons || !f.Accounts {
		sources = append(sources, `SELECT 'patron' AS kind, id::text AS id, '' AS username, home_library_id::text AS library_id,
			last_login_at AS at, last_login_ip AS ip FROM patrons WHERE last_login_at IS NOT NULL AND anonymised_at IS NULL`)
	}
	where := ""
	if len(conds) > 0 {
		where = "WHERE " + strings.Join(conds, " AND ")
	}
	rows, err := q.Query(ctx, `SELECT kind, id, username, library_id, at, coalesce(host(ip), '')
		FROM (`+strings.Join(sources, " UNION ALL ")+`) t `+where+`
		ORDER BY at DESC, kind DESC, id DESC LIMIT `+arg(limit), args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Trail, error) {
		var t Trail
		err := r.Scan(&t.Kind, &t.ID, &t.Username, &t.LibraryID, &t.At, &t.Address)
		return t, err
	})
}
