package policy

import (
	"context"
	"fmt"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// The built-in policy was rewritten for evaluation speed. Version 1, as it
// was before, is kept in testdata/access_v1.rego; TestBuiltinDecidesLikeV1
// proves that the two decide identically: the same allow, the same fields
// and the same reasons in the same order, before the floor is applied (so
// the floored decisions Decide returns are identical too). A deliberate
// change of the policy's decisions is made in both files: the plainly
// written one stays the reference the fast one is checked against.

// rawDecide evaluates in against e's bundle without the floor.
func rawDecide(e *Engine, in Input) (Decision, error) {
	t, err := eval(context.Background(), e.cur.Load(), inputValue(&in))
	if err != nil {
		return Decision{}, err
	}
	if t == nil {
		return Decision{Reasons: []string{"<undefined>"}}, nil
	}
	return decodeDecision(t)
}

// equivalenceInputs enumerates the inputs TestBuiltinDecidesLikeV1 checks:
//
//   - staff: every library relation (none, home, consent, loan only, and an
//     unrelated library), every subset of the permissions, every action and
//     an unknown one, optional-data consent and archived true and false;
//   - the operator, a patron (own record, another's, no account id), an
//     unknown kind and an empty kind: the same, with a smaller set of
//     permission sets (none, all, each alone, all but each);
//   - the same for a few unusual records (the home library also in the
//     consent and loan lists, an empty record, empty library ids in the
//     lists), with the smaller set of permission sets for staff and with no
//     or all permissions for the others.
func equivalenceInputs() []Input {
	allSubsets := make([][]string, 0, 1<<len(allPerms))
	for mask := range 1 << len(allPerms) {
		var ps []string
		for i, p := range allPerms {
			if mask&(1<<i) != 0 {
				ps = append(ps, p)
			}
		}
		allSubsets = append(allSubsets, ps)
	}
	fewSubsets := [][]string{nil, allPerms}
	for i, p := range allPerms {
		fewSubsets = append(fewSubsets, []string{p}, append(append([]string{}, allPerms[:i]...), allPerms[i+1:]...))
	}

	type subjectSpec struct {
		kind     string
		accounts []string
		perms    [][]string
	}
	libraries := []string{"", "L1", "L2", "L3", "L9"}
	actions := append(append([]string{}, allActions...), "patron.delete")

	var out []Input
	add := func(res Resource, subjects []subjectSpec) {
		for _, s := range subjects {
			for _, acct := range s.accounts {
				for _, lib := range libraries {
					for _, perms := range s.perms {
						for _, act := range actions {
							for _, opt := range []bool{false, true} {
								for _, arch := range []bool{false, true} {
									r := res
									r.OptionalDataConsent, r.Archived = opt, arch
									out = append(out, Input{
										Subject:  Subject{Kind: s.kind, AccountID: acct, LibraryID: lib, Permissions: perms},
										Action:   act,
										Resource: r,
									})
								}
							}
						}
					}
				}
			}
		}
	}
	record := Resource{PatronID: "p1", HomeLibraryID: "L1",
		ConsentLibraryIDs: []string{"L2", "L4"}, ActiveLoanLibraryIDs: []string{"L3"}}
	others := func(perms [][]string) []subjectSpec {
		return []subjectSpec{
			{KindOperator, []string{"p1"}, perms},
			{KindPatron, []string{"p1", "p2", ""}, perms},
			{"robot", []string{"p1"}, perms},
			{"", []string{"p1"}, perms},
		}
	}
	add(record, append([]subjectSpec{{KindStaff, []string{"s1"}, allSubsets}}, others(fewSubsets)...))
	for _, res := range []Resource{
		{PatronID: "p1", HomeLibraryID: "L1", ConsentLibraryIDs: []string{"L1", "L2"}, ActiveLoanLibraryIDs: []string{"L1", "L2", "L3"}},
		{},
		{PatronID: "p1", HomeLibraryID: "L1", ConsentLibraryIDs: []string{""}, ActiveLoanLibraryIDs: []string{""}},
	} {
		add(res, append([]subjectSpec{{KindStaff, []string{"p1"}, fewSubsets}}, others([][]string{nil, allPerms})...))
	}
	return out
}

func TestBuiltinDecidesLikeV1(t *testing.T) {
	v1 := newEngine(t, v1Bundle(t))
	cur := builtin(t)
	inputs := equivalenceInputs()
	stride := 1
	if testing.Short() || raceEnabled {
		stride = 7 // a deterministic seventh of the inputs, spread over every dimension
	}
	var (
		next, checked, failed atomic.Int64
		wg                    sync.WaitGroup
	)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)-1) * stride
				if i >= len(inputs) || failed.Load() >= 20 {
					return
				}
				in := inputs[i]
				want, wantErr := rawDecide(v1, in)
				got, gotErr := rawDecide(cur, in)
				checked.Add(1)
				if fmt.Sprint(wantErr) != fmt.Sprint(gotErr) || !reflect.DeepEqual(got, want) {
					failed.Add(1)
					t.Errorf("input %+v:\n got  %#v, %v\n want %#v, %v", in, got, gotErr, want, wantErr)
				}
			}
		})
	}
	wg.Wait()
	t.Logf("%d inputs checked (of %d; -short and -race check a seventh), %d decided differently", checked.Load(), len(inputs), failed.Load())
}

// TestBuiltinDecidesLikeV1Malformed compares the two versions on input
// documents Decide never builds (fields missing, wrong types), as another
// caller of the bundle (opa eval, a sidecar) might send them: each field of
// a few typical inputs is removed or replaced in turn.
func TestBuiltinDecidesLikeV1Malformed(t *testing.T) {
	ctx := context.Background()
	prep := func(b Bundle) rego.PreparedEvalQuery {
		c, store, err := compile(ctx, b, false)
		if err != nil {
			t.Fatal(err)
		}
		pq, err := rego.New(rego.Compiler(c), rego.Store(store), rego.Query(DecisionRef)).PrepareForEval(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return pq
	}
	v1, cur := prep(v1Bundle(t)), prep(Builtin())
	decide := func(pq rego.PreparedEvalQuery, in ast.Value) string {
		rs, err := pq.Eval(ctx, rego.EvalParsedInput(in))
		if err != nil {
			return "error: " + err.Error()
		}
		return fmt.Sprint(rs)
	}

	base := []Input{
		benchAllowInput,
		benchDenyInput,
		{Subject: staff("L2", PermPatronRead, PermLoanManage), Action: ActionPatronRead, Resource: record()},
		{Subject: staff("L3", PermLoanManage), Action: ActionLoanRead, Resource: archived()},
		{Subject: staff("L1", allPerms...), Action: ActionConsentWrite, Resource: noOptional()},
		{Subject: staff("", PermPatronRead), Action: ActionPatronRead, Resource: record()},
		{Subject: patron("p1"), Action: ActionLoanHistoryRead, Resource: record()},
		{Subject: patron("p1"), Action: ActionPatronUpdate, Resource: record()},
		{Subject: patron("p2"), Action: ActionPatronRead, Resource: record()},
		{Subject: operator, Action: ActionPatronRead, Resource: record()},
	}
	replacements := []*ast.Term{nil, ast.NullTerm(), ast.StringTerm(""), ast.BooleanTerm(true), ast.IntNumberTerm(1), ast.ArrayTerm(), ast.ObjectTerm()}
	n := 0
	check := func(in ast.Value, what string) {
		n++
		if got, want := decide(cur, in), decide(v1, in); got != want {
			t.Errorf("%s: input %v:\n got  %s\n want %s", what, in, got, want)
		}
	}
	// with returns a copy of obj with the value at path replaced (nil: removed).
	var with func(obj ast.Object, path []*ast.Term, v *ast.Term) ast.Object
	with = func(obj ast.Object, path []*ast.Term, v *ast.Term) ast.Object {
		out := ast.NewObject()
		obj.Foreach(func(k, old *ast.Term) {
			switch {
			case !k.Equal(path[0]):
				out.Insert(k, old)
			case len(path) > 1:
				out.Insert(k, ast.NewTerm(with(old.Value.(ast.Object), path[1:], v)))
			case v != nil:
				out.Insert(k, v)
			}
		})
		return out
	}
	for _, in := range base {
		doc := inputValue(&in).(ast.Object)
		check(doc, "unchanged")
		var paths [][]*ast.Term
		doc.Foreach(func(k, v *ast.Term) {
			paths = append(paths, []*ast.Term{k})
			if o, ok := v.Value.(ast.Object); ok {
				o.Foreach(func(k2, _ *ast.Term) { paths = append(paths, []*ast.Term{k, k2}) })
			}
		})
		for _, p := range paths {
			for _, v := range replacements {
				check(with(doc, p, v), fmt.Sprintf("%v := %v", p, v))
			}
		}
	}
	check(ast.NewObject(), "empty input")
	t.Logf("%d malformed inputs decided identically by both versions", n)
}
