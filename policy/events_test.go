package policy

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// Evaluation events are a rough but deterministic measure of the policy's
// cost (the timings of the benchmarks are not, on a shared machine): OPA
// emits one for every query entered, expression evaluated, redo, failure and
// index lookup. This test reports them for the benchmark inputs, per rule,
// and checks that the built-in policy stays well below the first version.

// eventCounter is a topdown.QueryTracer that counts events.
type eventCounter struct{ events []topdown.Event }

func (c *eventCounter) Enabled() bool                { return true }
func (c *eventCounter) Config() topdown.TraceConfig  { return topdown.TraceConfig{} }
func (c *eventCounter) TraceEvent(evt topdown.Event) { c.events = append(c.events, evt) }

// ruleSpans maps each line of each module of b to the name of the rule the
// line belongs to, so that events can be attributed to rules.
func ruleSpans(t testing.TB, b Bundle) map[string][]string {
	t.Helper()
	modules, err := parse(b, false)
	if err != nil {
		t.Fatal(err)
	}
	spans := map[string][]string{}
	for name, m := range modules {
		lines := make([]string, strings.Count(b.Modules[name], "\n")+2)
		rules := slices.Clone(m.Rules)
		slices.SortFunc(rules, func(a, b *ast.Rule) int { return cmp.Compare(a.Location.Row, b.Location.Row) })
		for i, r := range rules {
			end := len(lines)
			if i+1 < len(rules) {
				end = rules[i+1].Location.Row
			}
			for row := r.Location.Row; row < end; row++ {
				lines[row] = r.Head.Ref().String()
			}
		}
		spans[name] = lines
	}
	return spans
}

// countEvents evaluates the decision of b for in and returns the number of
// events, in total and per rule ("query" for the query itself).
func countEvents(t testing.TB, b Bundle, in Input) (int, map[string]int) {
	t.Helper()
	ctx := context.Background()
	c, store, err := compile(ctx, b, false)
	if err != nil {
		t.Fatal(err)
	}
	pq, err := rego.New(rego.Compiler(c), rego.Store(store), rego.Query(DecisionRef)).PrepareForEval(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var tr eventCounter
	if _, err := pq.Eval(ctx, rego.EvalParsedInput(inputValue(&in)), rego.EvalQueryTracer(&tr)); err != nil {
		t.Fatal(err)
	}
	spans := ruleSpans(t, b)
	per := map[string]int{}
	for _, evt := range tr.events {
		name := "query"
		if l := evt.Location; l != nil && l.File != "" {
			if lines, ok := spans[l.File]; ok && l.Row < len(lines) && lines[l.Row] != "" {
				name = lines[l.Row]
			}
		}
		per[name]++
	}
	return len(tr.events), per
}

// The inputs of BenchmarkDecideAllow and BenchmarkDecideDeny.
var (
	benchAllowInput = Input{
		Subject: Subject{Kind: KindStaff, AccountID: "s1", LibraryID: "L1",
			Permissions: []string{PermPatronRead, PermPatronWrite, PermPatronIdentifiers, PermLoanManage}},
		Action: ActionPatronRead,
		Resource: Resource{PatronID: "p1", HomeLibraryID: "L1",
			ConsentLibraryIDs: []string{"L2", "L4"}, ActiveLoanLibraryIDs: []string{"L3"}, OptionalDataConsent: true},
	}
	benchDenyInput = Input{
		Subject: Subject{Kind: KindStaff, AccountID: "s9", LibraryID: "L9",
			Permissions: []string{PermPatronRead, PermLoanManage}},
		Action: ActionLoanCheckout,
		Resource: Resource{PatronID: "p1", HomeLibraryID: "L1",
			ConsentLibraryIDs: []string{"L2", "L4"}, ActiveLoanLibraryIDs: []string{"L3"}, OptionalDataConsent: true},
	}
)

func formatPerRule(per map[string]int) string {
	names := slices.Collect(maps.Keys(per))
	slices.SortFunc(names, func(a, b string) int { return cmp.Or(cmp.Compare(per[b], per[a]), cmp.Compare(a, b)) })
	var sb strings.Builder
	for _, n := range names {
		fmt.Fprintf(&sb, " %s=%d", strings.TrimPrefix(n, "data.patronfed.access."), per[n])
	}
	return sb.String()
}

// TestDecisionEvents reports the evaluation events of the benchmark inputs
// for the built-in policy and for version 1 (testdata/access_v1.rego), and
// fails if the built-in policy loses its lead: it needs under half of
// version 1's events for the allowed decision (127 against 274 when it was
// written) and at most nine tenths for the denial (173 against 223). Run
// with -v to see where the events go, rule by rule.
func TestDecisionEvents(t *testing.T) {
	v1 := v1Bundle(t)
	for _, c := range []struct {
		name     string
		in       Input
		maxRatio float64
	}{{"allow", benchAllowInput, 0.5}, {"deny", benchDenyInput, 0.9}} {
		oldN, oldPer := countEvents(t, v1, c.in)
		newN, newPer := countEvents(t, Builtin(), c.in)
		t.Logf("%s: v1 %d events:%s", c.name, oldN, formatPerRule(oldPer))
		t.Logf("%s: built-in %d events:%s", c.name, newN, formatPerRule(newPer))
		if float64(newN) > c.maxRatio*float64(oldN) {
			t.Errorf("%s: the built-in policy takes %d evaluation events, more than %.0f%% of version 1's %d: "+
				"see docs/performance.md before making it slower", c.name, newN, 100*c.maxRatio, oldN)
		}
	}
}

// v1Bundle is version 1 of the built-in policy, as it was before it was
// rewritten for speed, kept to prove the rewrite decides identically.
func v1Bundle(t testing.TB) Bundle {
	t.Helper()
	src, err := os.ReadFile("testdata/access_v1.rego")
	if err != nil {
		t.Fatal(err)
	}
	return Bundle{Modules: map[string]string{"access_v1.rego": string(src)}}
}
