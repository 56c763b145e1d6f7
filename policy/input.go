package policy

import (
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
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
// It is built directly as an ast.Value (rego.EvalParsedInput), which skips
// the map[string]any -> ast conversion OPA would otherwise do on every call.
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

func inputValue(in *Input) ast.Value {
	s, r := &in.Subject, &in.Resource
	subject := ast.NewObject(
		[2]*ast.Term{keyKind, ast.StringTerm(s.Kind)},
		[2]*ast.Term{keyAccountID, ast.StringTerm(s.AccountID)},
		[2]*ast.Term{keyLibraryID, ast.StringTerm(s.LibraryID)},
		[2]*ast.Term{keyPermissions, stringArray(s.Permissions)},
	)
	resource := ast.NewObject(
		[2]*ast.Term{keyPatronID, ast.StringTerm(r.PatronID)},
		[2]*ast.Term{keyHomeLibraryID, ast.StringTerm(r.HomeLibraryID)},
		[2]*ast.Term{keyConsentLibraryIDs, stringArray(r.ConsentLibraryIDs)},
		[2]*ast.Term{keyActiveLoanLibraries, stringArray(r.ActiveLoanLibraryIDs)},
		[2]*ast.Term{keyOptionalData, ast.InternedTerm(r.OptionalDataConsent)},
		[2]*ast.Term{keyArchived, ast.InternedTerm(r.Archived)},
	)
	return ast.NewObject(
		[2]*ast.Term{keySubject, ast.NewTerm(subject)},
		[2]*ast.Term{keyAction, ast.StringTerm(in.Action)},
		[2]*ast.Term{keyResource, ast.NewTerm(resource)},
	)
}

func stringArray(ss []string) *ast.Term {
	terms := make([]*ast.Term, len(ss))
	for i, s := range ss {
		terms[i] = ast.StringTerm(s)
	}
	return ast.ArrayTerm(terms...)
}

// decodeDecision converts the decision object straight into a Decision,
// skipping OPA's generic ast -> map[string]any conversion. A malformed
// decision is returned as an error value (not a Go error, so that Eval still
// returns a result and Decide can report it).

func decodeDecision(t *ast.Term, _ *rego.EvalContext) (any, error) {
	obj, ok := t.Value.(ast.Object)
	if !ok {
		return fmt.Errorf("policy: decision is %s, want object", ast.ValueName(t.Value)), nil
	}
	var d Decision
	if v := obj.Get(keyAllow); v != nil {
		b, ok := v.Value.(ast.Boolean)
		if !ok {
			return fmt.Errorf("policy: decision.allow is %s, want boolean", ast.ValueName(v.Value)), nil
		}
		d.Allow = bool(b)
	}
	var err error
	if d.Fields, err = decodeStrings(obj.Get(keyFields), "fields"); err != nil {
		return err, nil
	}
	if d.Reasons, err = decodeStrings(obj.Get(keyReasons), "reasons"); err != nil {
		return err, nil
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
