package patron

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/patronfed/patronfed/policy"
)

// SearchWithPlan is Search with the plan of a name search or listing
// given, so that tests running in parallel can each compare both plans.
func SearchWithPlan(ctx context.Context, q Querier, s policy.Subject, query Query, plan SearchPlan) ([]Record, error) {
	return NewSearcher(PlanAuto).search(ctx, q, s, query, plan)
}

// ChoosePlan is the plan a name search or listing would use.
func ChoosePlan(ctx context.Context, q Querier, s policy.Subject, page int) (SearchPlan, error) {
	return NewSearcher(PlanAuto).choosePlan(ctx, q, s, page)
}

// NameKeyLetters are the code points the name key maps (but ASCII), in
// table order.
func NameKeyLetters() []rune {
	var out []rune
	for _, t := range nameKeyTable {
		out = append(out, []rune(t.from)...)
	}
	for r := rune(nameKeyDeleteFirst); r <= nameKeyDeleteLast; r++ {
		out = append(out, r)
	}
	for r := range nameKeyExpand {
		out = append(out, r)
	}
	return out
}

// ExplainSearch runs search and returns PostgreSQL's EXPLAIN (ANALYZE,
// COSTS OFF) of its main query (the one that reads patrons p).
func ExplainSearch(ctx context.Context, q Querier, s policy.Subject, query Query, plan SearchPlan) ([]string, error) {
	e := &explainer{Querier: q}
	if _, err := NewSearcher(PlanAuto).search(ctx, e, s, query, plan); err != nil {
		return nil, err
	}
	return e.plan, e.err
}

type explainer struct {
	Querier
	plan []string
	err  error
}

func (e *explainer) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if strings.Contains(sql, "FROM patrons p") && e.plan == nil {
		rows, err := e.Querier.Query(ctx, "EXPLAIN (ANALYZE, COSTS OFF) "+sql, args...)
		if err == nil {
			e.plan, err = pgx.CollectRows(rows, pgx.RowTo[string])
		}
		if err != nil {
			e.err = err
		}
	}
	return e.Querier.Query(ctx, sql, args...)
}
