package app

import (
	"cmp"
	"context"

	"github.com/patronfed/patronfed/access"
	"github.com/patronfed/patronfed/retention"
	"github.com/patronfed/patronfed/server"
	"github.com/patronfed/patronfed/services/registration"
	retentionsvc "github.com/patronfed/patronfed/services/retention"
	"github.com/patronfed/patronfed/services/rights"
)

// rightsServices are the patron's rights, self-registration and the staff
// side of retention (issue 7), decided by the replica's policy and audited
// by its one writer, plus the methods among them that need no token. It
// also starts the retention schedule (Config.RetentionInterval; one
// replica runs at a time), stopped when the app closes.
func (w *wiring) rightsServices(ctx context.Context) ([]server.Service, []string, error) {
	r, err := w.policyReloader(ctx)
	if err != nil {
		return nil, nil, err
	}
	guard := access.NewGuard(r, w.auditWriter(), w.logger())
	clk := w.deps.Clock
	if every := w.deps.Config.RetentionInterval; every > 0 {
		sctx, stop := context.WithCancel(context.WithoutCancel(ctx))
		done := make(chan struct{})
		go func() {
			defer close(done)
			o := retention.Options{Pause: retention.DefaultPause, WorkShare: cmp.Or(w.deps.Config.RetentionWorkShare, retention.DefaultWorkShare)}
			e := retention.New(w.pool, clk, w.logger())
			e.PatronChanged = w.accountChanged
			retention.Schedule(sctx, e, every, o, w.logger())
		}()
		w.closers = append(w.closers, func() { stop(); <-done })
	}
	return []server.Service{
		rights.New(w.pool, w.keyring, guard, clk, w.accountChanged),
		registration.New(w.pool, w.keyring, guard, clk, w.deps.HashParams),
		retentionsvc.New(w.pool, guard, clk),
	}, registration.PublicMethods, nil
}
