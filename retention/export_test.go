package retention

import (
	"context"
	"time"
)

// SetSleep replaces the wait between batches, so tests can see the pauses
// without waiting for them.
func (e *Engine) SetSleep(f func(context.Context, time.Duration) error) { e.sleep = f }
