package policy

import (
	"reflect"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

// plainInputValue builds the input document the plain way, every term new:
// the reference for inputDoc.
func plainInputValue(in *Input) ast.Value {
	strs := func(ss []string) *ast.Term {
		ts := make([]*ast.Term, len(ss))
		for i, s := range ss {
			ts[i] = ast.StringTerm(s)
		}
		return ast.ArrayTerm(ts...)
	}
	s, r := in.Subject, in.Resource
	return ast.NewObject(
		ast.Item(ast.StringTerm("subject"), ast.ObjectTerm(
			ast.Item(ast.StringTerm("kind"), ast.StringTerm(s.Kind)),
			ast.Item(ast.StringTerm("account_id"), ast.StringTerm(s.AccountID)),
			ast.Item(ast.StringTerm("library_id"), ast.StringTerm(s.LibraryID)),
			ast.Item(ast.StringTerm("permissions"), strs(s.Permissions)),
		)),
		ast.Item(ast.StringTerm("action"), ast.StringTerm(in.Action)),
		ast.Item(ast.StringTerm("resource"), ast.ObjectTerm(
			ast.Item(ast.StringTerm("patron_id"), ast.StringTerm(r.PatronID)),
			ast.Item(ast.StringTerm("home_library_id"), ast.StringTerm(r.HomeLibraryID)),
			ast.Item(ast.StringTerm("consent_library_ids"), strs(r.ConsentLibraryIDs)),
			ast.Item(ast.StringTerm("active_loan_library_ids"), strs(r.ActiveLoanLibraryIDs)),
			ast.Item(ast.StringTerm("optional_data_consent"), ast.BooleanTerm(r.OptionalDataConsent)),
			ast.Item(ast.StringTerm("archived"), ast.BooleanTerm(r.Archived)),
		)),
	)
}

// TestInputDocReused checks that an inputDoc set again and again (as
// Decide reuses them) holds the same document, hash included, as one built
// the plain way for each input.
func TestInputDocReused(t *testing.T) {
	inputs := equivalenceInputs()
	inputs = append(inputs, benchAllowInput, benchDenyInput, Input{})
	d := newInputDoc()
	for i := range inputs {
		in := &inputs[len(inputs)-1-i] // backwards, to reuse the doc in another order than the other tests
		d.set(in)
		want := plainInputValue(in)
		if d.top.Compare(want) != 0 || d.top.Hash() != want.Hash() {
			t.Fatalf("input %+v: reused document %v (hash %d), want %v (hash %d)", *in, d.top, d.top.Hash(), want, want.Hash())
		}
		if v := inputValue(in); v.Compare(want) != 0 || v.Hash() != want.Hash() {
			t.Fatalf("input %+v: inputValue %v, want %v", *in, v, want)
		}
	}
}

// TestDecideFloorsLikeFloor checks that the decoding and flooring Decide
// does in place (decodeDecision, floorOwned) gives what Floor gives, nil
// slices included, for decision documents a bundle may return.
func TestDecideFloorsLikeFloor(t *testing.T) {
	strs := func(ss ...string) *ast.Term {
		ts := make([]*ast.Term, len(ss))
		for i, s := range ss {
			ts[i] = ast.StringTerm(s)
		}
		return ast.ArrayTerm(ts...)
	}
	docs := []*ast.Term{
		ast.ObjectTerm(),
		ast.ObjectTerm(ast.Item(ast.StringTerm("allow"), ast.BooleanTerm(true))),
		ast.ObjectTerm(ast.Item(ast.StringTerm("allow"), ast.BooleanTerm(true)), ast.Item(ast.StringTerm("fields"), strs(FieldName))),
		ast.ObjectTerm(ast.Item(ast.StringTerm("allow"), ast.BooleanTerm(true)), ast.Item(ast.StringTerm("reasons"), strs("b", "a", "b"))),
		ast.ObjectTerm(ast.Item(ast.StringTerm("fields"), strs("x", FieldName)), ast.Item(ast.StringTerm("reasons"), strs())),
		ast.ObjectTerm(ast.Item(ast.StringTerm("fields"), strs()), ast.Item(ast.StringTerm("reasons"), strs("no"))),
		ast.ObjectTerm(ast.Item(ast.StringTerm("allow"), ast.BooleanTerm(true)),
			ast.Item(ast.StringTerm("fields"), ast.SetTerm(ast.StringTerm(FieldIDDocument), ast.StringTerm("x"), ast.StringTerm("y"), ast.StringTerm(FieldCards))),
			ast.Item(ast.StringTerm("reasons"), ast.SetTerm(ast.StringTerm("r")))),
		ast.ObjectTerm(ast.Item(ast.StringTerm("allow"), ast.BooleanTerm(true)),
			ast.Item(ast.StringTerm("fields"), strs(FieldCards, FieldName, FieldCards, FieldNationalIDs)),
			ast.Item(ast.StringTerm("reasons"), strs("z", "a"))),
	}
	inputs := []Input{
		{Subject: staff("L1"), Action: ActionPatronRead, Resource: record()},
		{Subject: staff("L2"), Action: ActionPatronRead, Resource: record()},
		{Subject: Subject{Kind: KindOperator}, Action: ActionPatronRead, Resource: record()},
		{Subject: staff("L1"), Action: ActionLoanHistoryRead, Resource: record()},
	}
	for _, doc := range docs {
		for _, in := range inputs {
			d1, err1 := decodeDecision(doc)
			d2, err2 := decodeDecision(doc)
			if err1 != nil || err2 != nil {
				t.Fatalf("%v: %v", doc, err1)
			}
			want := Floor(in, d1)
			if got := floorOwned(in, d2); !reflect.DeepEqual(got, want) {
				t.Errorf("%v, %+v: floorOwned = %#v, Floor = %#v", doc, in, got, want)
			}
		}
	}
}
