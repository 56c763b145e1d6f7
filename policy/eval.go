package policy

import (
	"context"
	"runtime"
	"sync"
	"unsafe"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// Where a decision is evaluated.
//
// Rego evaluation is deeply recursive: the built-in policy needs more than
// 64 KiB of stack. On a fresh goroutine — every gRPC request runs on one —
// the stack starts small and is copied each time it doubles, and
// runtime.copystack walks every frame each time; done in the middle of the
// evaluation's recursion that cost more than the evaluation itself
// (docs/performance.md). Decisions used to be handed to a few long-lived
// worker goroutines whose stacks stayed grown, but the handoff (waking a
// worker, often on another thread, and waking the caller again) came to
// cost as much as the decision once the policy was made cheap.
//
// So a decision is evaluated on the caller's goroutine, after growStack
// has made room on its stack while the stack is still shallow: one copy of
// the caller's frames, and nothing at all when the goroutine already has
// the room (a search deciding one hit after another). A bundle whose
// evaluation needs more stack than that (an uploaded policy much larger
// than the built-in one) would grow the stack mid-recursion on every
// request; eval notices when that keeps happening (the stack moved) and
// from then on evaluates that bundle on the worker goroutines.

// evalStackRoom is how much free stack growStack guarantees; the
// goroutine's stack ends up at least twice this (a power of two).
const evalStackRoom = 64 << 10

var (
	// stackNever is always false; growStack cannot see that.
	stackNever bool
	stackIndex int
)

// growStack has a frame of evalStackRoom bytes, so calling it grows the
// stack (in the function prologue) if there is less room than that. The
// frame is never touched: the array is only used, and so only zeroed, in a
// branch that is not taken.
//
//go:noinline
func growStack(never bool) byte {
	if never {
		var room [evalStackRoom]byte
		return room[stackIndex]
	}
	return 0
}

// eval evaluates p's query with input in and returns the decision term,
// nil when it is undefined.
func eval(ctx context.Context, p *prepared, in ast.Value) (*ast.Term, error) {
	if p.deep.Load() {
		return evalOnWorker(ctx, p, in)
	}
	t, moved, err := evalOnCaller(ctx, p, in)
	// More than half of a window of evaluations had to grow the stack
	// mid-recursion: the bundle needs more than the room. (A window rather
	// than a single one: the garbage collector may shrink a stack that is
	// not using its room yet, which also moves it.)
	if moved {
		p.moves.Add(1)
	}
	if p.evals.Add(1)%deepWindow == 0 && p.moves.Swap(0) > deepWindow/2 {
		p.deep.Store(true)
	}
	return t, err
}

const deepWindow = 256

// evalOnCaller evaluates on the caller's goroutine after making room on its
// stack, and reports whether the stack was copied during the evaluation.
func evalOnCaller(ctx context.Context, p *prepared, in ast.Value) (t *ast.Term, moved bool, err error) {
	growStack(stackNever)
	var mark byte
	at := uintptr(unsafe.Pointer(&mark))
	t, err = evalHere(ctx, p, in)
	return t, uintptr(unsafe.Pointer(&mark)) != at, err
}

// neverCancelled is the cancellation handle of evaluations whose context
// cannot be cancelled (context.Background in benchmarks and tools).
var neverCancelled = topdown.NewCancel()

// noMetrics records nothing; it is safe for concurrent use.
var noMetrics = metrics.NoOp()

// cachePool holds the rule caches of evaluations (see flatCache).
var cachePool = sync.Pool{New: func() any { return newFlatCache() }}

// evalHere evaluates on the calling goroutine.
//
// It drives OPA's topdown evaluator directly, as rego.PreparedEvalQuery.Eval
// does (with no metrics, tracing or print statements, and the built-ins of
// the compiler's capabilities), but without rego's per-call evaluation
// context and result set, and without the goroutine rego starts for each
// evaluation to watch the context: context.AfterFunc sets the evaluation's
// cancellation flag instead, which costs nothing when the context cannot be
// cancelled.
func evalHere(ctx context.Context, p *prepared, in ast.Value) (*ast.Term, error) {
	cancel := neverCancelled
	if ctx.Done() != nil {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		cancel = topdown.NewCancel()
		stop := context.AfterFunc(ctx, cancel.Cancel)
		defer stop()
	}
	txn, err := p.store.NewTransaction(ctx)
	if err != nil {
		return nil, err
	}
	defer p.store.Abort(ctx, txn)
	vc := cachePool.Get().(*flatCache)
	defer func() {
		vc.reset()
		cachePool.Put(vc)
	}()
	q := topdown.NewQuery(p.query).
		WithQueryCompiler(p.qc).
		WithCompiler(p.compiler).
		WithStore(p.store).
		WithTransaction(txn).
		WithMetrics(noMetrics).
		WithInput(ast.NewTerm(in)).
		WithCancel(cancel).
		WithVirtualCache(vc)
	var result *ast.Term
	err = q.Iter(ctx, func(qr topdown.QueryResult) error {
		result = qr[p.result]
		return nil
	})
	return result, err
}

// The worker goroutines, started the first time a bundle needs them.
var (
	workersOnce sync.Once
	evalJobs    chan *evalJob
	jobPool     = sync.Pool{New: func() any { return &evalJob{done: make(chan struct{}, 1)} }}
)

type evalJob struct {
	ctx  context.Context
	p    *prepared
	in   ast.Value
	t    *ast.Term
	err  error
	done chan struct{}
}

func startWorkers() {
	n := max(2, runtime.GOMAXPROCS(0))
	evalJobs = make(chan *evalJob, n)
	for range n {
		go func() {
			for j := range evalJobs {
				j.t, j.err = evalHere(j.ctx, j.p, j.in)
				j.done <- struct{}{}
			}
		}()
	}
}

// evalOnWorker evaluates on a worker goroutine, whose stack stays grown.
func evalOnWorker(ctx context.Context, p *prepared, in ast.Value) (*ast.Term, error) {
	workersOnce.Do(startWorkers)
	j := jobPool.Get().(*evalJob)
	j.ctx, j.p, j.in = ctx, p, in
	select {
	case evalJobs <- j:
	case <-ctx.Done():
		*j = evalJob{done: j.done}
		jobPool.Put(j)
		return nil, ctx.Err()
	}
	<-j.done
	t, err := j.t, j.err
	*j = evalJob{done: j.done}
	jobPool.Put(j)
	return t, err
}
