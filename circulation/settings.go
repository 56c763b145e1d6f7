package circulation

import (
	"context"
	"time"
)

// Settings are the lending rules of one library (library_settings).
type Settings struct {
	LoanPeriod  time.Duration
	MaxRenewals int
	// ReservationPeriod is how long a reservation waits when no expiry
	// is given.
	ReservationPeriod time.Duration
	OverdueFeePerDay  int64
	FeeBlockLimit     int64
	Currency          string
}

// LibrarySettings reads the lending rules of library.
func LibrarySettings(ctx context.Context, q Querier, library string) (Settings, error) {
	var days, reservationDays int
	var s Settings
	err := q.QueryRow(ctx, `SELECT loan_period_days, max_renewals, overdue_fee_per_day, fee_block_limit, currency, reservation_days
		FROM library_settings WHERE library_id = $1`, library).
		Scan(&days, &s.MaxRenewals, &s.OverdueFeePerDay, &s.FeeBlockLimit, &s.Currency, &reservationDays)
	s.LoanPeriod = time.Duration(days) * 24 * time.Hour
	s.ReservationPeriod = time.Duration(reservationDays) * 24 * time.Hour
	return s, err
}
