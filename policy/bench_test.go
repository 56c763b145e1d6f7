package policy

import (
	"context"
	"testing"
)

func benchEngine(b *testing.B) *Engine {
	b.Helper()
	e, err := NewEngine(context.Background(), Builtin())
	if err != nil {
		b.Fatal(err)
	}
	return e
}

func benchDecide(b *testing.B, in Input, wantAllow bool) {
	e := benchEngine(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		d, err := e.Decide(ctx, in)
		if err != nil || d.Allow != wantAllow {
			b.Fatalf("Decide = %+v, %v", d, err)
		}
	}
}

// A home-library registrar reading a patron who shares with two libraries.
func BenchmarkDecideAllow(b *testing.B) {
	benchDecide(b, Input{
		Subject: Subject{Kind: KindStaff, AccountID: "s1", LibraryID: "L1",
			Permissions: []string{PermPatronRead, PermPatronWrite, PermPatronIdentifiers, PermLoanManage}},
		Action: ActionPatronRead,
		Resource: Resource{PatronID: "p1", HomeLibraryID: "L1",
			ConsentLibraryIDs: []string{"L2", "L4"}, ActiveLoanLibraryIDs: []string{"L3"}, OptionalDataConsent: true},
	}, true)
}

// A library without consent trying to check out to the patron.
func BenchmarkDecideDeny(b *testing.B) {
	benchDecide(b, Input{
		Subject: Subject{Kind: KindStaff, AccountID: "s9", LibraryID: "L9",
			Permissions: []string{PermPatronRead, PermLoanManage}},
		Action: ActionLoanCheckout,
		Resource: Resource{PatronID: "p1", HomeLibraryID: "L1",
			ConsentLibraryIDs: []string{"L2", "L4"}, ActiveLoanLibraryIDs: []string{"L3"}, OptionalDataConsent: true},
	}, false)
}

// BenchmarkDecideBaseline is the cost of the machinery alone (prepared query,
// input, result, Floor) with a one-line policy: the rest of the Allow/Deny
// numbers is the built-in policy's Rego evaluation.
func BenchmarkDecideBaseline(b *testing.B) {
	e, err := NewEngine(context.Background(), Bundle{Modules: map[string]string{"baseline.rego": `package patronfed.access

decision := {"allow": input.action == "patron.read", "fields": ["name"], "reasons": ["baseline"]}
`}})
	if err != nil {
		b.Fatal(err)
	}
	in := Input{Subject: Subject{Kind: KindStaff, LibraryID: "L1", Permissions: []string{PermPatronRead}},
		Action: ActionPatronRead, Resource: Resource{PatronID: "p1", HomeLibraryID: "L1"}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Decide(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
}

// Parallel throughput: Engine is shared by every request.
func BenchmarkDecideAllowParallel(b *testing.B) {
	e := benchEngine(b)
	in := Input{
		Subject:  Subject{Kind: KindStaff, AccountID: "s1", LibraryID: "L2", Permissions: []string{PermPatronRead}},
		Action:   ActionPatronRead,
		Resource: Resource{PatronID: "p1", HomeLibraryID: "L1", ConsentLibraryIDs: []string{"L2"}},
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if d, err := e.Decide(ctx, in); err != nil || !d.Allow {
				b.Fatalf("Decide = %+v, %v", d, err)
			}
		}
	})
}
