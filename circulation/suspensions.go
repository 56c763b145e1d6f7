package circulation

import (
	"context"
	"time"
)

// Suspend suspends the patron's services, by library, until until (nil:
// until lifted), replacing an earlier suspension.
func Suspend(ctx context.Context, q Querier, patronID, library, reason string, until *time.Time, now time.Time) error {
	_, err := q.Exec(ctx, `INSERT INTO patron_suspensions (patron_id, library_id, reason, suspended_until, created_at)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (patron_id) DO UPDATE SET library_id = $2, reason = $3, suspended_until = $4, created_at = $5`,
		patronID, library, reason, until, now)
	return err
}

// LiftSuspension ends the patron's suspension, if any.
func LiftSuspension(ctx context.Context, q Querier, patronID string) error {
	_, err := q.Exec(ctx, `DELETE FROM patron_suspensions WHERE patron_id = $1`, patronID)
	return err
}
