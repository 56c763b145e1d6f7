package settings

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/patronfed/patronfed/store"
)

func init() {
	// Ranges are validated in the request first; these are the database's
	// second line, and the one cross-field rule a partial update can break.
	store.RegisterConstraint("library_settings_anonymise_after_archive", "anonymise_after_months",
		"anonymise_after_months must be at least archive_after_months")
}

// Querier runs queries: a pool, a connection or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Settings are one library's settings; see store/migrations/00001 for the
// meaning and range of each.
type Settings struct {
	LibraryID                     string    `db:"library_id"`
	MinorAge                      int32     `db:"minor_age"`
	LoanPeriodDays                int32     `db:"loan_period_days"`
	MaxRenewals                   int32     `db:"max_renewals"`
	ReservationDays               int32     `db:"reservation_days"`
	PickupDays                    int32     `db:"pickup_days"`
	OverdueFeePerDay              int32     `db:"overdue_fee_per_day"`
	FeeBlockLimit                 int32     `db:"fee_block_limit"`
	Currency                      string    `db:"currency"`
	HistoryRetentionMonths        int32     `db:"history_retention_months"`
	ArchiveAfterMonths            int32     `db:"archive_after_months"`
	AnonymiseAfterMonths          int32     `db:"anonymise_after_months"`
	SelfRegistrationRetentionDays int32     `db:"self_registration_retention_days"`
	AuditRetentionMonths          int32     `db:"audit_retention_months"`
	EventSignupRetentionMonths    int32     `db:"event_signup_retention_months"`
	CollectEmail                  bool      `db:"collect_email"`
	CollectPhone                  bool      `db:"collect_phone"`
	CollectAcademicTitles         bool      `db:"collect_academic_titles"`
	UpdatedAt                     time.Time `db:"updated_at"`
}

// Fields are the names of the settable fields, which are also their column
// names, in table order.
var Fields = []string{
	"minor_age", "loan_period_days", "max_renewals", "reservation_days", "pickup_days", "overdue_fee_per_day", "fee_block_limit", "currency",
	"history_retention_months", "archive_after_months", "anonymise_after_months",
	"self_registration_retention_days", "audit_retention_months", "event_signup_retention_months",
	"collect_email", "collect_phone", "collect_academic_titles",
}

// ref returns a pointer to the field named name, for Patch.apply.
func (s *Settings) ref(name string) any {
	switch name {
	case "minor_age":
		return &s.MinorAge
	case "loan_period_days":
		return &s.LoanPeriodDays
	case "max_renewals":
		return &s.MaxRenewals
	case "reservation_days":
		return &s.ReservationDays
	case "pickup_days":
		return &s.PickupDays
	case "overdue_fee_per_day":
		return &s.OverdueFeePerDay
	case "fee_block_limit":
		return &s.FeeBlockLimit
	case "currency":
		return &s.Currency
	case "history_retention_months":
		return &s.HistoryRetentionMonths
	case "archive_after_months":
		return &s.ArchiveAfterMonths
	case "anonymise_after_months":
		return &s.AnonymiseAfterMonths
	case "self_registration_retention_days":
		return &s.SelfRegistrationRetentionDays
	case "audit_retention_months":
		return &s.AuditRetentionMonths
	case "event_signup_retention_months":
		return &s.EventSignupRetentionMonths
	case "collect_email":
		return &s.CollectEmail
	case "collect_phone":
		return &s.CollectPhone
	case "collect_academic_titles":
		return &s.CollectAcademicTitles
	}
	return nil
}

var columns = "library_id::text, " + strings.Join(Fields, ", ") + ", updated_at"

// Get returns the settings of library; pgx.ErrNoRows if there is no such
// library.
func Get(ctx context.Context, q Querier, libraryID string) (Settings, error) {
	rows, err := q.Query(ctx, `SELECT `+columns+` FROM library_settings WHERE library_id = $1`, libraryID)
	if err != nil {
		return Settings{}, err
	}
	return pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Settings])
}

// Patch holds new values by field name: int32 for numbers, string for the
// currency, bool for the collect_* switches.
type Patch map[string]any

// apply returns s with p applied and the names of the fields whose value
// differs, in Fields order.
func (p Patch) apply(s Settings) (Settings, []string, error) {
	var changed []string
	for _, name := range Fields {
		v, ok := p[name]
		if !ok {
			continue
		}
		switch dst := s.ref(name).(type) {
		case *int32:
			n, ok := v.(int32)
			if !ok {
				return s, nil, fmt.Errorf("settings: %s wants int32, got %T", name, v)
			}
			if *dst != n {
				*dst = n
				changed = append(changed, name)
			}
		case *string:
			str, ok := v.(string)
			if !ok {
				return s, nil, fmt.Errorf("settings: %s wants string, got %T", name, v)
			}
			if *dst != str {
				*dst = str
				changed = append(changed, name)
			}
		case *bool:
			b, ok := v.(bool)
			if !ok {
				return s, nil, fmt.Errorf("settings: %s wants bool, got %T", name, v)
			}
			if *dst != b {
				*dst = b
				changed = append(changed, name)
			}
		}
	}
	for name := range p {
		if !slices.Contains(Fields, name) {
			return s, nil, fmt.Errorf("settings: unknown field %q", name)
		}
	}
	return s, changed, nil
}

// Actor is who makes a change, as recorded in its history.
type Actor struct {
	Kind     string // "operator" or "staff"
	ID       string // account id
	Username string
}

// Update applies p to library's settings in one transaction and returns the
// new settings and the fields that changed. Nothing is written (and nothing
// recorded) when every value is already as asked. A value out of range
// fails with the CHECK constraint's error (store.Status maps it).
func Update(ctx context.Context, db store.TxBeginner, libraryID string, p Patch, actor Actor, now time.Time) (Settings, []string, error) {
	var (
		out     Settings
		changed []string
	)
	err := store.InTx(ctx, db, pgx.TxOptions{}, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+columns+` FROM library_settings WHERE library_id = $1 FOR UPDATE`, libraryID)
		if err != nil {
			return err
		}
		old, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Settings])
		if err != nil {
			return err
		}
		next, ch, err := p.apply(old)
		if err != nil {
			return err
		}
		out, changed = old, ch
		if len(ch) == 0 {
			return nil
		}
		// The trigger reads the actor from these transaction-local settings.
		if _, err := tx.Exec(ctx, `SELECT set_config('patronfed.actor_kind', $1, true),
			set_config('patronfed.actor_id', $2, true), set_config('patronfed.actor_username', $3, true)`,
			actor.Kind, actor.ID, actor.Username); err != nil {
			return err
		}
		sets := make([]string, len(ch))
		args := []any{libraryID, now}
		for i, name := range ch {
			args = append(args, valueOf(&next, name))
			sets[i] = fmt.Sprintf("%s = $%d", name, len(args)) // names come from Fields only
		}
		rows, err = tx.Query(ctx, `UPDATE library_settings SET `+strings.Join(sets, ", ")+`, updated_at = $2
			WHERE library_id = $1 RETURNING `+columns, args...)
		if err != nil {
			return err
		}
		out, err = pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Settings])
		return err
	})
	if err != nil {
		return Settings{}, nil, err
	}
	return out, changed, nil
}

func valueOf(s *Settings, name string) any {
	switch v := s.ref(name).(type) {
	case *int32:
		return *v
	case *string:
		return *v
	case *bool:
		return *v
	}
	return nil
}

// Change is one recorded change of one field.
type Change struct {
	ID            int64     `db:"id"`
	LibraryID     string    `db:"library_id"`
	Field         string    `db:"field"`
	OldValue      string    `db:"old_value"`
	NewValue      string    `db:"new_value"`
	ChangedAt     time.Time `db:"changed_at"`
	ActorKind     string    `db:"actor_kind"`
	ActorID       string    `db:"actor_id"`
	ActorUsername string    `db:"actor_username"`
}

// ListChanges returns up to limit changes of library, newest first, with ids
// below beforeID (0: from the newest).
func ListChanges(ctx context.Context, q Querier, libraryID string, beforeID int64, limit int) ([]Change, error) {
	rows, err := q.Query(ctx, `
		SELECT id, library_id::text, field, coalesce(old_value, '') AS old_value, coalesce(new_value, '') AS new_value,
		       changed_at, actor_kind, coalesce(actor_id::text, '') AS actor_id, actor_username
		FROM library_settings_changes
		WHERE library_id = $1 AND ($2 = 0 OR id < $2)
		ORDER BY id DESC LIMIT $3`, libraryID, beforeID, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByName[Change])
}
