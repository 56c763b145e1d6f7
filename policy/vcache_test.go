package policy

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/rego"
)

// TestFlatCacheMatchesOPA evaluates, through the engine (flatCache) and
// through plain rego (OPA's own rule cache), a policy that reads more rules
// than the flat cache holds, reads rules that are undefined, and evaluates
// rules under `with` (which pushes and pops cache frames), and checks that
// both give the same decision, repeatedly (the caches are pooled).
func TestFlatCacheMatchesOPA(t *testing.T) {
	var sb strings.Builder
	sb.WriteString("package patronfed.access\n\n")
	const n = 2 * maxFlat
	for i := range n {
		fmt.Fprintf(&sb, "r%d := %d if input.action == \"patron.read\"\n\n", i, i)
	}
	sb.WriteString("never := 1 if input.action == \"nothing\"\n\n")
	sb.WriteString("total := sum([")
	for i := range n {
		if i > 0 {
			sb.WriteString(", ")
		}
		fmt.Fprintf(&sb, "r%d", i)
	}
	sb.WriteString("])\n\n")
	sb.WriteString(`reread := r0 + r1

undefined_twice if {
	not never
	not never
}

under_with := t if {
	t := total with input.action as "patron.read"
}

other := t if {
	t := total with input.action as "loan.read"
}

decision := {"allow": true, "fields": ["name"], "reasons": [sprintf("%d %d %d %v", [total, reread, under_with, undefined_twice])]} if {
	not other
}
`)
	b := Bundle{Modules: map[string]string{"cache.rego": sb.String()}}
	e := newEngine(t, b)
	in := Input{Subject: staff("L1", PermPatronRead), Action: ActionPatronRead, Resource: record()}

	rs, err := rego.New(rego.Query(DecisionRef), rego.Module("cache.rego", sb.String()), rego.ParsedInput(inputValue(&in))).Eval(context.Background())
	if err != nil || len(rs) != 1 {
		t.Fatalf("rego: %v %v", rs, err)
	}
	want := rs[0].Expressions[0].Value.(map[string]any)["reasons"].([]any)[0].(string)
	if want != fmt.Sprintf("%d %d %d true", n*(n-1)/2, 1, n*(n-1)/2) {
		t.Fatalf("test policy is wrong: %q", want)
	}
	for range 3 {
		d, err := e.Decide(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		if !d.Allow || len(d.Reasons) != 1 || d.Reasons[0] != want {
			t.Fatalf("Decide = %+v, want reason %q", d, want)
		}
	}
}

// TestDecideCancelled: a cancelled context is an error and a denial.
func TestDecideCancelled(t *testing.T) {
	e := builtin(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d, err := e.Decide(ctx, Input{Subject: staff("L1", PermPatronRead), Action: ActionPatronRead, Resource: record()})
	if err == nil || d.Allow {
		t.Fatalf("Decide with a cancelled context = %+v, %v; want a denial and an error", d, err)
	}
	// A context that is cancelled later does not get in the way.
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	d, err = e.Decide(ctx, Input{Subject: staff("L1", PermPatronRead), Action: ActionPatronRead, Resource: record()})
	if err != nil || !d.Allow {
		t.Fatalf("Decide = %+v, %v", d, err)
	}
}

// decideOnFreshGoroutine decides in on a new goroutine, as a gRPC request
// would.
func decideOnFreshGoroutine(t *testing.T, e *Engine, in Input) Decision {
	t.Helper()
	var (
		d   Decision
		err error
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		d, err = e.Decide(context.Background(), in)
	}()
	<-done
	if err != nil {
		t.Fatalf("Decide(%+v): %v", in, err)
	}
	return d
}

// TestBuiltinFitsTheStackRoom: the built-in policy's decisions fit in the
// stack room eval makes on the caller's goroutine (see eval.go), on a fresh
// goroutine; and a much deeper bundle (version 1 of the policy, which
// evaluates about twice as many rules) is moved to the workers and decides
// the same there.
func TestBuiltinFitsTheStackRoom(t *testing.T) {
	e := builtin(t)
	inputs := equivalenceInputs()
	checked, moved := 0, 0
	for i := 0; i < len(inputs); i += 97 {
		done := make(chan bool)
		go func() {
			_, m, err := evalOnCaller(context.Background(), e.cur.Load(), inputValue(&inputs[i]))
			if err != nil {
				t.Error(err)
			}
			done <- m
		}()
		checked++
		if <-done {
			moved++
		}
	}
	// The garbage collector may shrink a stack before the evaluation uses
	// it, which moves it too: allow for a few. (The race detector makes
	// frames larger: there, some decisions do outgrow the room.)
	t.Logf("%d of %d decisions moved the stack", moved, checked)
	if moved > checked/50 && !raceEnabled {
		t.Errorf("%d of %d built-in decisions outgrew the stack room of %d KiB: raise evalStackRoom", moved, checked, evalStackRoom>>10)
	}

	v1 := newEngine(t, v1Bundle(t))
	want := decideOnFreshGoroutine(t, v1, benchAllowInput)
	for range deepWindow {
		decideOnFreshGoroutine(t, v1, benchAllowInput)
	}
	if !v1.cur.Load().deep.Load() {
		t.Skip("version 1 fits the stack room too: nothing to test the workers with")
	}
	for range 3 {
		if got := decideOnFreshGoroutine(t, v1, benchAllowInput); !reflect.DeepEqual(got, want) {
			t.Errorf("on a worker: %+v, want %+v", got, want)
		}
	}
}
