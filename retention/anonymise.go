package retention

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Querier runs SQL: a pgx.Tx (AnonymisePatron must run in one), a pool or
// a connection.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// AnonymisedName replaces a patron's first and last name.
const AnonymisedName = "anonymised"

// Summary counts what one anonymisation removed or detached, by kind
// (e.g. "cards": 2). Kinds with nothing to do are absent.
type Summary map[string]int64

// anonymiseSteps are the statements of AnonymisePatron, in order, each
// with the kind it counts. $1 is the patron, $2 the time. The patron row
// itself goes last so that the statements before it still find the links.
var anonymiseSteps = []struct{ kind, sql string }{
	// Identifiers, cards and the consents in force are personal data
	// outright: deleted.
	{"identifiers", `DELETE FROM patron_identifiers WHERE patron_id = $1`},
	{"cards", `DELETE FROM cards WHERE patron_id = $1`},
	{"consents", `DELETE FROM consents WHERE patron_id = $1`},
	// The consent history stays (when and how consents changed) without
	// the person, also where the patron was the actor.
	{"consent_history", `UPDATE consent_events SET patron_id = NULL,
		actor_id = CASE WHEN actor_kind = 'patron' THEN NULL ELSE actor_id END WHERE patron_id = $1`},
	// Transactions stay for statistics, cut from the person; fees are
	// detached from the title (the loan) as the loan becomes anonymous.
	{"fees", `UPDATE fees SET patron_id = NULL, loan_id = NULL WHERE patron_id = $1`},
	{"notice_claims", `UPDATE notice_claims c SET loan_id = NULL FROM loans l
		WHERE c.loan_id = l.id AND l.patron_id = $1`},
	{"notices", `UPDATE notices SET patron_id = NULL WHERE patron_id = $1`},
	// The ids as an array (not IN (subquery)) so that both arms of the OR
	// are index conditions: an OR with a semi-join scanned the table.
	{"idempotency_records", `DELETE FROM circulation_requests WHERE scope_id = $1
		OR result_id = ANY (ARRAY(SELECT id FROM loans WHERE patron_id = $1 UNION ALL SELECT id FROM reservations WHERE patron_id = $1))`},
	{"last_borrower_marks", `UPDATE items SET last_borrower_id = NULL WHERE last_borrower_id = $1`},
	// Loans: only returned ones can be here (the caller refuses patrons
	// with unreturned items, and loans_active_has_patron backs that up).
	{"loans", `UPDATE loans SET patron_id = NULL WHERE patron_id = $1`},
	// An active reservation cannot outlive its patron: cancelled.
	{"reservations", `UPDATE reservations SET patron_id = NULL,
		status = CASE WHEN status = 'active' THEN 'cancelled' ELSE status END,
		finished_at = coalesce(finished_at, $2) WHERE patron_id = $1`},
	{"suspensions", `DELETE FROM patron_suspensions WHERE patron_id = $1`},
	{"self_registrations", `DELETE FROM self_registrations WHERE patron_id = $1`},
	{"event_signups", `DELETE FROM event_signups WHERE patron_id = $1`},
	// The record keeps what statistics count (home library, category,
	// registration date) and nothing that names or reaches the person.
	{"patron_record", `UPDATE patrons SET
		first_name = '` + AnonymisedName + `', last_name = '` + AnonymisedName + `', birth_date = NULL,
		permanent_address = NULL, contact_address = NULL,
		email = NULL, phone = NULL, academic_titles = NULL,
		optional_data_consent = false, optional_data_consent_at = NULL,
		mother_tongue = NULL, guardian_name = NULL, guardian_address = NULL, guardian_phone = NULL, guardian_email = NULL,
		special_categories = '{}', pin_hash = NULL, last_login_at = NULL, last_login_ip = NULL, last_activity_at = NULL,
		archived_at = coalesce(archived_at, $2), anonymised_at = $2,
		version = version + 1, updated_at = $2
		WHERE id = $1 AND anonymised_at IS NULL`},
}

// AnonymisePatron anonymises one patron in the caller's transaction and
// returns what it did. It does not check debts: callers ask
// circulation.DebtsAt first and refuse (an unreturned item also makes it
// fail on loans_active_has_patron). Anonymising an already anonymised
// patron changes nothing and returns an empty summary.
func AnonymisePatron(ctx context.Context, tx Querier, patronID string, now time.Time) (Summary, error) {
	var done bool
	if err := tx.QueryRow(ctx, `SELECT anonymised_at IS NOT NULL FROM patrons WHERE id = $1 FOR UPDATE`, patronID).Scan(&done); err != nil {
		return nil, err
	}
	s := Summary{}
	if done {
		return s, nil
	}
	for _, st := range anonymiseSteps {
		args := []any{patronID}
		if strings.Contains(st.sql, "$2") {
			args = append(args, now)
		}
		tag, err := tx.Exec(ctx, st.sql, args...)
		if err != nil {
			return nil, err
		}
		if n := tag.RowsAffected(); n > 0 {
			s[st.kind] = n
		}
	}
	return s, nil
}
