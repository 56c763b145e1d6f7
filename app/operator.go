package app

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/patronfed/patronfed/audit"
	"github.com/patronfed/patronfed/policystore"
	"github.com/patronfed/patronfed/principals"
	"github.com/patronfed/patronfed/server"
	"github.com/patronfed/patronfed/services/auditing"
	"github.com/patronfed/patronfed/services/policies"
	"github.com/patronfed/patronfed/services/settings"
	"github.com/patronfed/patronfed/services/statistics"
)

// policyReloader returns the replica's access policy, built once: the
// built-in policy stored as version 1 if the database has none, the active
// version loaded, and activations followed (LISTEN/NOTIFY plus polling)
// until the app closes. Services decide with its Decide, which also reports
// the deciding version for the audit log.
func (w *wiring) policyReloader(ctx context.Context) (*policystore.Reloader, error) {
	if w.reloader != nil {
		return w.reloader, nil
	}
	st := policystore.New(w.pool)
	if err := st.EnsureBuiltin(ctx, w.deps.Clock.Now()); err != nil {
		return nil, fmt.Errorf("policy: storing the built-in policy: %w", err)
	}
	r, err := policystore.NewReloader(ctx, st, w.pool, policystore.Options{
		PollInterval: w.deps.Config.PolicyPollInterval,
		Logger:       w.logger(),
		Metrics:      w.metrics,
	})
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	r.Start()
	w.closers = append(w.closers, r.Close)
	w.policyStore, w.reloader = st, r
	return r, nil
}

// principalCache returns the replica's cache of callers' account rows,
// listening for changes until the app closes; nil when disabled.
func (w *wiring) principalCache() *principals.Cache {
	if w.principals != nil || w.deps.Config.PrincipalCacheTTL == 0 {
		return w.principals
	}
	c := principals.NewCache(w.deps.Config.PrincipalCacheTTL, nil)
	lcfg := w.pool.Config().ConnConfig.Copy()
	lcfg.RuntimeParams["application_name"] = "patronfed-principal-listener"
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx, lcfg, w.logger()) }()
	w.closers = append(w.closers, func() { cancel(); <-done })
	w.principals = c
	return c
}

// auditWriter returns the one audit log writer of the replica.
func (w *wiring) auditWriter() *audit.Writer {
	if w.auditw == nil {
		w.auditw = audit.NewWriter(w.pool, w.deps.Clock, w.logger())
		if w.metrics != nil {
			if err := w.auditw.Register(w.metrics); err != nil {
				w.logger().Warn("audit writer metrics not registered", "err", err)
			}
		}
		w.closers = append(w.closers, w.auditw.Close)
	}
	return w.auditw
}

func (w *wiring) logger() *slog.Logger {
	if w.deps.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return w.deps.Logger
}

// operatorServices are the consortium operator's services (issue 6):
// settings, policy, audit and statistics.
func (w *wiring) operatorServices(ctx context.Context) ([]server.Service, error) {
	r, err := w.policyReloader(ctx)
	if err != nil {
		return nil, err
	}
	clk := w.deps.Clock
	return []server.Service{
		settings.New(w.pool, clk),
		policies.New(w.pool, w.policyStore, r, w.auditWriter(), clk),
		auditing.New(w.pool, clk),
		statistics.New(w.pool, clk),
	}, nil
}
