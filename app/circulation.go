package app

import (
	"context"

	"github.com/patronfed/patronfed/server"
	"github.com/patronfed/patronfed/services/fees"
	"github.com/patronfed/patronfed/services/loanaccess"
	"github.com/patronfed/patronfed/services/loans"
	"github.com/patronfed/patronfed/services/opacloans"
)

// circulationServices are loans, reservations and fees (issue 5): the
// staff services decide with the replica's policy and audit through its
// one writer; the patron's own service needs neither.
func (w *wiring) circulationServices(ctx context.Context) ([]server.Service, error) {
	r, err := w.policyReloader(ctx)
	if err != nil {
		return nil, err
	}
	clk := w.deps.Clock
	guard := loanaccess.New(r, w.auditWriter())
	return []server.Service{
		loans.New(w.pool, clk, guard),
		fees.New(w.pool, clk, guard),
		opacloans.New(w.pool, clk),
	}, nil
}
