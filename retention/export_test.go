package retention

import (
	"context"
	"time"
)

// SetSleep replaces the wait between batches, so tests can see the pauses
// without waiting for them.
func (e *Engine) SetSleep(f func(context.Context, time.Duration) error) { e.sleep = f }

// LoansRowsSQL is the select of the loans step.
var LoansRowsSQL, LoansStart = steps[0].rows, steps[0].start
