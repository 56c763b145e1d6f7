package policy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/util"
)

// DecisionRef is the rule every bundle must define: an object
// {"allow": bool, "fields": [string], "reasons": [string]}.
const DecisionRef = "data.patronfed.access.decision"

var decisionRef = ast.MustParseRef(DecisionRef)

// Engine evaluates access decisions against a prepared bundle. It is safe for
// concurrent use; Swap replaces the bundle atomically.
type Engine struct {
	cur atomic.Pointer[prepared]
}

// prepared is a bundle ready for evaluation: the compiled policy and the
// compiled query `x = data.patronfed.access.decision`, evaluated with
// OPA's topdown evaluator directly (see eval).
type prepared struct {
	compiler *ast.Compiler
	store    storage.Store
	qc       ast.QueryCompiler
	query    ast.Body
	result   ast.Var // the variable bound to the decision in query
	// deep is set once evaluations outgrow the stack room eval makes on the
	// caller's goroutine: the bundle is evaluated on workers since.
	deep         atomic.Bool
	evals, moves atomic.Int64
}

// NewEngine compiles (strict mode) and prepares b. Test modules are ignored.
func NewEngine(ctx context.Context, b Bundle) (*Engine, error) {
	p, err := prepare(ctx, b)
	if err != nil {
		return nil, err
	}
	e := &Engine{}
	e.cur.Store(p)
	return e, nil
}

// Swap prepares b and atomically replaces the engine's bundle. On error the
// engine keeps the bundle it had. Decisions in flight finish on the old one.
func (e *Engine) Swap(ctx context.Context, b Bundle) error {
	p, err := prepare(ctx, b)
	if err != nil {
		return err
	}
	e.cur.Store(p)
	return nil
}

// Decide evaluates in against the current bundle and applies Floor to the
// result. On error the returned decision is a denial (still floored).
func (e *Engine) Decide(ctx context.Context, in Input) (Decision, error) {
	doc := inputDocs.Get().(*inputDoc)
	// The document goes back to the pool only once the decision is decoded
	// (a policy may return parts of its input; today decoding reads only
	// strings and booleans, which are never modified, but that is an
	// accident of the decoder).
	defer inputDocs.Put(doc)
	doc.set(&in)
	t, err := eval(ctx, e.cur.Load(), doc.top)
	if err != nil {
		return Floor(in, Decision{Reasons: []string{"policy evaluation failed"}}), fmt.Errorf("policy: evaluating %s: %w", DecisionRef, err)
	}
	if t == nil {
		// Undefined: the policy gave no answer. Fail closed.
		return Floor(in, Decision{Reasons: []string{"policy: " + DecisionRef + " is undefined for this input"}}), nil
	}
	d, err := decodeDecision(t)
	if err != nil {
		return Floor(in, Decision{Reasons: []string{"policy returned a malformed decision"}}), err
	}
	return floorOwned(in, d), nil
}

func prepare(ctx context.Context, b Bundle) (*prepared, error) {
	c, store, err := compile(ctx, b, false)
	if err != nil {
		return nil, err
	}
	// The query as rego.PrepareForEval would compile it, with the decision
	// bound to a variable.
	const x = ast.Var("x")
	qc := c.QueryCompiler().WithStrict(false)
	query, err := qc.Compile(ast.NewBody(ast.Equality.Expr(ast.NewTerm(x), ast.NewTerm(decisionRef.Copy()))))
	if err != nil {
		return nil, fmt.Errorf("policy: preparing %s: %w", DecisionRef, err)
	}
	result := x
	for rewritten, original := range qc.RewrittenVars() {
		if original == x {
			result = rewritten
		}
	}
	return &prepared{compiler: c, store: store, qc: qc, query: query, result: result}, nil
}

// compile parses and compiles the bundle in strict mode. Test modules are
// included only when withTests is set. It also checks that the bundle
// defines DecisionRef (unless it is compiled for tests only).
func compile(ctx context.Context, b Bundle, withTests bool) (*ast.Compiler, storage.Store, error) {
	modules, err := parse(b, withTests)
	if err != nil {
		return nil, nil, err
	}
	store, err := newStore(b.Data)
	if err != nil {
		return nil, nil, err
	}
	txn, err := store.NewTransaction(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer store.Abort(ctx, txn)

	c := ast.NewCompiler().
		WithStrict(true).
		WithDefaultRegoVersion(ast.RegoV1).
		WithCapabilities(capabilities()).
		WithPathConflictsCheck(storage.NonEmpty(ctx, store, txn))
	c.Compile(modules)
	if c.Failed() {
		return nil, nil, newBundleError(c.Errors)
	}
	if len(c.GetRulesExact(decisionRef)) == 0 {
		return nil, nil, &BundleError{Problems: []Problem{{
			Code:    "patronfed_policy_error",
			Message: "bundle does not define " + DecisionRef,
		}}}
	}
	return c, store, nil
}

// deniedBuiltins are built-in functions a bundle may not call: a policy sees
// patron data on every read and must not be able to send it anywhere or read
// the server's environment.
var deniedBuiltins = map[string]bool{
	"http.send":          true,
	"net.lookup_ip_addr": true,
	"opa.runtime":        true,
}

// capabilities is what a bundle may use: this OPA version's built-ins minus
// deniedBuiltins.
func capabilities() *ast.Capabilities {
	c := ast.CapabilitiesForThisVersion()
	c.Builtins = slices.DeleteFunc(c.Builtins, func(b *ast.Builtin) bool { return deniedBuiltins[b.Name] })
	return c
}

func isTestFile(name string) bool { return strings.HasSuffix(name, "_test.rego") }

func parse(b Bundle, withTests bool) (map[string]*ast.Module, error) {
	names := make([]string, 0, len(b.Modules))
	for name := range b.Modules {
		if withTests || !isTestFile(name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	if len(names) == 0 {
		return nil, &BundleError{Problems: []Problem{{Code: "patronfed_policy_error", Message: "bundle has no policy modules"}}}
	}
	modules := make(map[string]*ast.Module, len(names))
	var errs ast.Errors
	opts := ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true}
	for _, name := range names {
		m, err := ast.ParseModuleWithOpts(name, b.Modules[name], opts)
		if err != nil {
			var astErrs ast.Errors
			if errors.As(err, &astErrs) {
				errs = append(errs, astErrs...)
				continue
			}
			return nil, fmt.Errorf("policy: parsing %s: %w", name, err)
		}
		if m == nil {
			errs = append(errs, ast.NewError(ast.ParseErr, &ast.Location{File: name, Row: 1}, "empty module"))
			continue
		}
		modules[name] = m
	}
	if len(errs) > 0 {
		return nil, newBundleError(errs)
	}
	return modules, nil
}

func newStore(data map[string]any) (storage.Store, error) {
	var doc any = map[string]any{}
	if data != nil {
		doc = data
		// Normalise to plain JSON types (and reject what JSON cannot hold)
		// before handing the document to the store.
		if err := util.RoundTrip(&doc); err != nil {
			return nil, &BundleError{Problems: []Problem{{Code: "patronfed_data_error", Message: "bundle data is not valid JSON: " + err.Error()}}}
		}
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		return nil, &BundleError{Problems: []Problem{{Code: "patronfed_data_error", Message: "bundle data must be a JSON object"}}}
	}
	return inmem.NewFromObjectWithOpts(obj, inmem.OptReturnASTValuesOnRead(true)), nil
}

// Problem is one error found in a bundle, located by file and line.
type Problem struct {
	File      string
	Line, Col int
	Code      string
	Message   string
}

func (p Problem) String() string {
	var sb strings.Builder
	if p.File != "" {
		sb.WriteString(p.File)
		sb.WriteByte(':')
		sb.WriteString(strconv.Itoa(p.Line))
		if p.Col > 0 {
			sb.WriteByte(':')
			sb.WriteString(strconv.Itoa(p.Col))
		}
		sb.WriteString(": ")
	}
	sb.WriteString(p.Code)
	sb.WriteString(": ")
	sb.WriteString(p.Message)
	return sb.String()
}

// BundleError is returned by Validate, NewEngine, Swap and RunTests when a
// bundle does not parse or compile.
type BundleError struct {
	Problems []Problem
}

func (e *BundleError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	if len(lines) == 1 {
		return "policy: invalid bundle: " + lines[0]
	}
	return fmt.Sprintf("policy: invalid bundle: %d problems:\n%s", len(lines), strings.Join(lines, "\n"))
}

func newBundleError(errs ast.Errors) *BundleError {
	errs = slices.Clone(errs)
	errs.Sort()
	e := &BundleError{Problems: make([]Problem, 0, len(errs))}
	for _, err := range errs {
		p := Problem{Code: err.Code, Message: err.Message}
		if err.Location != nil {
			p.File, p.Line, p.Col = err.Location.File, err.Location.Row, err.Location.Col
		}
		e.Problems = append(e.Problems, p)
	}
	return e
}

// Validate parses and compiles every module of b, tests included, in strict
// mode, and checks that the bundle defines DecisionRef. Errors are a
// *BundleError whose problems carry file:line.
func Validate(ctx context.Context, b Bundle) error {
	_, _, err := compile(ctx, b, true)
	return err
}
