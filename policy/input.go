package policy

import (
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"
)

// The input document seen by Rego:
//
//	{
//	  "subject":  {"kind", "account_id", "library_id", "permissions": [..]},
//	  "action":   "...",
//	  "resource": {"patron_id", "home_library_id", "consent_library_ids": [..],
//	               "active_loan_library_ids": [..], "optional_data_consent", "archived"}
//	}
//
// It is built directly as an ast.Value, which skips the map[string]any ->
// ast conversion OPA would otherwise do on every call.
var (
	keySubject  = ast.StringTerm("subject")
	keyAction   = ast.StringTerm("action")
	keyResource = ast.StringTerm("resource")

	keyKind        = ast.StringTerm("kind")
	keyAccountID   = ast.StringTerm("account_id")
	keyLibraryID   = ast.StringTerm("library_id")
	keyPermissions = ast.StringTerm("permissions")

	keyPatronID            = ast.StringTerm("patron_id")
	keyHomeLibraryID       = ast.StringTerm("home_library_id")
	keyConsentLibraryIDs   = ast.StringTerm("consent_library_ids")
	keyActiveLoanLibraries = ast.StringTerm("active_loan_library_ids")
	keyOptionalData        = ast.StringTerm("optional_data_consent")
	keyArchived            = ast.StringTerm("archived")

	keyAllow   = ast.StringTerm("allow")
	keyFields  = ast.StringTerm("fields")
	keyReasons = ast.StringTerm("reasons")
)

// vocabulary holds a shared term for every string of the product's
// vocabulary (subject kinds, actions, permissions) and the empty string, so
// that building the input allocates only for ids. Terms of the input are
// never modified by evaluation, so they can be shared.
var vocabulary = func() map[string]*ast.Term {
	m := map[string]*ast.Term{}
	for _, s := range []string{
		"",
		KindStaff, KindOperator, KindPatron,
		ActionPatronRead, ActionPatronUpdate, ActionConsentWrite, ActionLoanCheckout,
		ActionLoanRead, ActionLoanHistoryRead, ActionFeeRead,
		PermPatronRead, PermPatronWrite, PermPatronIdentifiers, PermPatronSpecialCategory,
		PermConsentWrite, PermLoanManage, PermLibraryManage,
	} {
		m[s] = ast.StringTerm(s)
	}
	return m
}()

// termAlloc hands out the string terms of one input from a single
// allocation.
type termAlloc struct{ terms []ast.Term }

func (a *termAlloc) str(s string) *ast.Term {
	if t, ok := vocabulary[s]; ok {
		return t
	}
	if len(a.terms) == 0 {
		return ast.StringTerm(s)
	}
	t := &a.terms[0]
	a.terms = a.terms[1:]
	t.Value = ast.String(s)
	return t
}

func (a *termAlloc) array(ss []string) *ast.Term {
	terms := make([]*ast.Term, len(ss))
	for i, s := range ss {
		terms[i] = a.str(s)
	}
	return ast.ArrayTerm(terms...)
}

func inputValue(in *Input) ast.Value {
	s, r := &in.Subject, &in.Resource
	// Ids (accounts, libraries, the patron) are the strings that are not
	// vocabulary: at most this many.
	a := termAlloc{terms: make([]ast.Term, 4+len(r.ConsentLibraryIDs)+len(r.ActiveLoanLibraryIDs)+len(s.Permissions))}
	subject := ast.NewObject(
		[2]*ast.Term{keyKind, a.str(s.Kind)},
		[2]*ast.Term{keyAccountID, a.str(s.AccountID)},
		[2]*ast.Term{keyLibraryID, a.str(s.LibraryID)},
		[2]*ast.Term{keyPermissions, a.array(s.Permissions)},
	)
	resource := ast.NewObject(
		[2]*ast.Term{keyPatronID, a.str(r.PatronID)},
		[2]*ast.Term{keyHomeLibraryID, a.str(r.HomeLibraryID)},
		[2]*ast.Term{keyConsentLibraryIDs, a.array(r.ConsentLibraryIDs)},
		[2]*ast.Term{keyActiveLoanLibraries, a.array(r.ActiveLoanLibraryIDs)},
		[2]*ast.Term{keyOptionalData, ast.InternedTerm(r.OptionalDataConsent)},
		[2]*ast.Term{keyArchived, ast.InternedTerm(r.Archived)},
	)
	return ast.NewObject(
		[2]*ast.Term{keySubject, ast.NewTerm(subject)},
		[2]*ast.Term{keyAction, a.str(in.Action)},
		[2]*ast.Term{keyResource, ast.NewTerm(resource)},
	)
}

// decodeDecision converts the decision object straight into a Decision,
// skipping OPA's generic ast -> map[string]any conversion.
func decodeDecision(t *ast.Term) (Decision, error) {
	var d Decision
	obj, ok := t.Value.(ast.Object)
	if !ok {
		return d, fmt.Errorf("policy: decision is %s, want object", ast.ValueName(t.Value))
	}
	if v := obj.Get(keyAllow); v != nil {
		b, ok := v.Value.(ast.Boolean)
		if !ok {
			return d, fmt.Errorf("policy: decision.allow is %s, want boolean", ast.ValueName(v.Value))
		}
		d.Allow = bool(b)
	}
	var err error
	if d.Fields, err = decodeStrings(obj.Get(keyFields), "fields"); err != nil {
		return Decision{}, err
	}
	if d.Reasons, err = decodeStrings(obj.Get(keyReasons), "reasons"); err != nil {
		return Decision{}, err
	}
	return d, nil
}

func decodeStrings(t *ast.Term, name string) ([]string, error) {
	if t == nil {
		return nil, nil
	}
	var out []string
	add := func(e *ast.Term) error {
		s, ok := e.Value.(ast.String)
		if !ok {
			return fmt.Errorf("policy: decision.%s contains %s, want string", name, ast.ValueName(e.Value))
		}
		out = append(out, string(s))
		return nil
	}
	switch v := t.Value.(type) {
	case *ast.Array:
		out = make([]string, 0, v.Len())
		for i := range v.Len() {
			if err := add(v.Elem(i)); err != nil {
				return nil, err
			}
		}
	case ast.Set:
		out = make([]string, 0, v.Len())
		for _, e := range v.Slice() {
			if err := add(e); err != nil {
				return nil, err
			}
		}
	default:
		return nil, fmt.Errorf("policy: decision.%s is %s, want array of strings", name, ast.ValueName(t.Value))
	}
	return out, nil
}
