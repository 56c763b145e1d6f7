package policy

import (
	"context"
	"runtime"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/rego"
)

// Rego evaluation is deeply recursive: on a fresh goroutine — every gRPC
// request runs on one — the stack starts small and is copied several times
// as it grows (runtime.copystack walks every frame each time), which cost
// more than the evaluation itself in the load runs (docs/performance.md).
// Decisions are therefore evaluated on a few long-lived worker goroutines
// whose stacks stay grown; the handoff costs two channel operations.
var (
	workersOnce sync.Once
	evalJobs    chan *evalJob
	jobPool     = sync.Pool{New: func() any { return &evalJob{done: make(chan struct{}, 1)} }}
)

type evalJob struct {
	ctx  context.Context
	q    *rego.PreparedEvalQuery
	in   ast.Value
	rs   rego.ResultSet
	err  error
	done chan struct{}
}

func startWorkers() {
	n := max(2, runtime.GOMAXPROCS(0))
	evalJobs = make(chan *evalJob, n)
	for range n {
		go func() {
			for j := range evalJobs {
				j.rs, j.err = j.q.Eval(j.ctx, rego.EvalParsedInput(j.in), rego.EvalMetrics(metrics.NoOp()))
				j.done <- struct{}{}
			}
		}()
	}
}

// eval evaluates q with input in on a worker goroutine.
func eval(ctx context.Context, q *rego.PreparedEvalQuery, in ast.Value) (rego.ResultSet, error) {
	workersOnce.Do(startWorkers)
	j := jobPool.Get().(*evalJob)
	j.ctx, j.q, j.in = ctx, q, in
	select {
	case evalJobs <- j:
	case <-ctx.Done():
		j.ctx, j.q, j.in = nil, nil, nil
		jobPool.Put(j)
		return nil, ctx.Err()
	}
	<-j.done
	rs, err := j.rs, j.err
	*j = evalJob{done: j.done}
	jobPool.Put(j)
	return rs, err
}
