package retention

import (
	"context"
	"time"
)

// SetSleep replaces the wait between batches, so tests can see the pauses
// without waiting for them.
func (e *Engine) SetSleep(f func(context.Context, time.Duration) error) { e.sleep = f }

// SetNow replaces the time source that times batches for WorkShare.
func (e *Engine) SetNow(f func() time.Time) { e.now = f }

// LoansRowsSQL is the select of the loans step.
var LoansRowsSQL, LoansStart = steps[0].rows, steps[0].start

// ReservationsRowsSQL is the select of the reservations step.
var ReservationsRowsSQL, ReservationsStart = steps[1].rows, steps[1].start

// AnonymiseSQL are the statements of AnonymisePatron, by kind.
func AnonymiseSQL() map[string]string {
	m := map[string]string{}
	for _, st := range anonymiseSteps {
		m[st.kind] = st.sql
	}
	return m
}

// ClearLastBorrowersSQL is the statement that clears last-borrower marks
// after a batch of loans is anonymised.
const ClearLastBorrowersSQL = clearLastBorrowersSQL
