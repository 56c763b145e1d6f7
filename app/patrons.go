package app

import (
	"context"
	"fmt"

	"github.com/patronfed/patronfed/access"
	"github.com/patronfed/patronfed/patron"
	"github.com/patronfed/patronfed/server"
	"github.com/patronfed/patronfed/services/consents"
	"github.com/patronfed/patronfed/services/patrons"
)

// patronServices are the patron base and consents (issue 4): decided by
// the replica's active policy, audited by its one audit writer.
func (w *wiring) patronServices(ctx context.Context) ([]server.Service, error) {
	r, err := w.policyReloader(ctx)
	if err != nil {
		return nil, err
	}
	guard := access.NewGuard(r, w.auditWriter(), w.logger())
	clk := w.deps.Clock
	plan, ok := patron.ParseSearchPlan(w.deps.Config.SearchPlan)
	if !ok {
		return nil, fmt.Errorf("search plan %q: want auto, probe or hashed", w.deps.Config.SearchPlan)
	}
	return []server.Service{
		patrons.New(w.pool, w.keyring, guard, clk, w.deps.HashParams, patron.NewSearcher(plan), w.accountChanged),
		consents.New(w.pool, guard, clk),
	}, nil
}
