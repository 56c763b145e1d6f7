package policy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/tester"
)

// TestResult is the outcome of one Rego test rule (test_*).
type TestResult struct {
	Name    string // rule name, e.g. "test_home_read_record"
	Package string // e.g. "data.patronfed.access_test"
	Pass    bool
	Fail    string // why it failed; empty when Pass
}

// testTimeout bounds each test rule.
const testTimeout = 5 * time.Second

// RunTests compiles b (tests included, strict mode) and runs its test rules
// with OPA's tester, against b.Data. Results are sorted by package and name.
// Skipped tests (todo_ prefix) are not reported. A bundle that does not
// compile returns a *BundleError; failing tests are reported in the results,
// not as an error.
func RunTests(ctx context.Context, b Bundle) ([]TestResult, error) {
	modules, err := parse(b, true)
	if err != nil {
		return nil, err
	}
	store, err := newStore(b.Data)
	if err != nil {
		return nil, err
	}
	runner := tester.NewRunner().
		SetCompiler(ast.NewCompiler().WithStrict(true).WithDefaultRegoVersion(ast.RegoV1).WithEnablePrintStatements(true).WithCapabilities(capabilities())).
		SetDefaultRegoVersion(ast.RegoV1).
		SetStore(store).
		SetTimeout(testTimeout).
		SetModules(modules)
	ch, err := runner.RunTests(ctx, nil)
	if err != nil {
		var errs ast.Errors
		if errors.As(err, &errs) {
			return nil, newBundleError(errs)
		}
		return nil, fmt.Errorf("policy: running tests: %w", err)
	}
	var out []TestResult
	for r := range ch {
		if r.Skip {
			continue
		}
		tr := TestResult{Name: r.Name, Package: r.Package, Pass: r.Pass()}
		if !tr.Pass {
			tr.Fail = failure(r)
		}
		out = append(out, tr)
	}
	if err := ctx.Err(); err != nil {
		return out, err
	}
	slices.SortFunc(out, func(a, b TestResult) int {
		return cmp.Or(cmp.Compare(a.Package, b.Package), cmp.Compare(a.Name, b.Name))
	})
	return out, nil
}

func failure(r *tester.Result) string {
	var sb strings.Builder
	if r.Location != nil {
		fmt.Fprintf(&sb, "%s:%d: ", r.Location.File, r.Location.Row)
	}
	if r.Error != nil {
		sb.WriteString("error: ")
		sb.WriteString(r.Error.Error())
	} else {
		sb.WriteString("test is false or undefined")
	}
	if out := strings.TrimSpace(string(r.Output)); out != "" {
		sb.WriteString("\noutput:\n")
		sb.WriteString(out)
	}
	return sb.String()
}
