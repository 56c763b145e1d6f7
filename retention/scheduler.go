package retention

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// Schedule runs the engine every interval until ctx ends, the first time
// one interval after it starts (so that a short-lived `patronfed dev`
// leaves its demo data alone). A run another replica holds the lock for is
// skipped quietly; a failed run is logged (without personal data) and
// tried again at the next tick. Each run is shaped by o (the server gives
// DefaultPause and its configured work share). Schedule returns when ctx
// ends.
func Schedule(ctx context.Context, e *Engine, interval time.Duration, o Options, log *slog.Logger) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		_, err := e.Run(ctx, o)
		switch {
		case err == nil, errors.Is(err, ErrBusy):
		case ctx.Err() != nil:
			return
		default:
			log.ErrorContext(ctx, "retention: scheduled run failed; retrying at the next interval", "error_type", errType(err))
		}
	}
}
