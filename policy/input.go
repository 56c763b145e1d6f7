package policy

import (
	"fmt"
	"hash/maphash"
	"slices"
	"sync"
	"sync/atomic"

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

// The input document of a decision is built into an inputDoc: its three
// objects are made once and their values replaced for each decision
// (Object.Insert of a key already present allocates nothing), so that
// Decide allocates no objects for the input. Decide takes an inputDoc from
// inputDocs and puts it back once the evaluation is over: nothing of an
// evaluation outlives it (the decision is decoded into Go strings, the rule
// cache is reset), so the document is not seen by two evaluations at once.
//
// Insert recomputes the hash of the whole object, so a value is only
// inserted when its term changed (terms of library ids, lists and the
// vocabulary are shared, so they often have not).
type inputDoc struct {
	top, subject, resource    ast.Object
	subjectTerm, resourceTerm *ast.Term
	values                    [numInputValues]*ast.Term // the value of each key below
}

// The keys of the input document, in the order of inputKeys.
const (
	inKind = iota
	inAccountID
	inLibraryID
	inPermissions
	inPatronID
	inHomeLibraryID
	inConsentLibraryIDs
	inActiveLoanLibraries
	inOptionalData
	inArchived
	inAction
	numInputValues
)

var inputKeys = [numInputValues]*ast.Term{
	keyKind, keyAccountID, keyLibraryID, keyPermissions,
	keyPatronID, keyHomeLibraryID, keyConsentLibraryIDs, keyActiveLoanLibraries, keyOptionalData, keyArchived,
	keyAction,
}

var inputDocs = sync.Pool{New: func() any { return newInputDoc() }}

func newInputDoc() *inputDoc {
	d := &inputDoc{}
	for i := range d.values {
		d.values[i] = ast.InternedNullTerm
	}
	item := func(i int) [2]*ast.Term { return [2]*ast.Term{inputKeys[i], d.values[i]} }
	d.subject = ast.NewObject(item(inKind), item(inAccountID), item(inLibraryID), item(inPermissions))
	d.resource = ast.NewObject(item(inPatronID), item(inHomeLibraryID), item(inConsentLibraryIDs),
		item(inActiveLoanLibraries), item(inOptionalData), item(inArchived))
	d.subjectTerm, d.resourceTerm = ast.NewTerm(d.subject), ast.NewTerm(d.resource)
	d.top = ast.NewObject(
		[2]*ast.Term{keySubject, d.subjectTerm},
		item(inAction),
		[2]*ast.Term{keyResource, d.resourceTerm},
	)
	return d
}

// put sets value i of obj to t and reports whether it changed.
func (d *inputDoc) put(obj ast.Object, i int, t *ast.Term) bool {
	if d.values[i] == t {
		return false
	}
	obj.Insert(inputKeys[i], t)
	d.values[i] = t
	return true
}

// set makes d the input document of in. A nested object that changed is
// inserted again into the top object, which updates the top object's hash.
func (d *inputDoc) set(in *Input) {
	s, r := &in.Subject, &in.Resource
	subject := d.put(d.subject, inKind, idTerm(s.Kind))
	subject = d.put(d.subject, inAccountID, idTerm(s.AccountID)) || subject
	subject = d.put(d.subject, inLibraryID, libraryTerm(s.LibraryID)) || subject
	subject = d.put(d.subject, inPermissions, listTerm(s.Permissions)) || subject
	resource := d.put(d.resource, inPatronID, idTerm(r.PatronID))
	resource = d.put(d.resource, inHomeLibraryID, libraryTerm(r.HomeLibraryID)) || resource
	resource = d.put(d.resource, inConsentLibraryIDs, listTerm(r.ConsentLibraryIDs)) || resource
	resource = d.put(d.resource, inActiveLoanLibraries, listTerm(r.ActiveLoanLibraryIDs)) || resource
	resource = d.put(d.resource, inOptionalData, ast.InternedTerm(r.OptionalDataConsent)) || resource
	resource = d.put(d.resource, inArchived, ast.InternedTerm(r.Archived)) || resource
	if subject {
		d.top.Insert(keySubject, d.subjectTerm)
	}
	if resource {
		d.top.Insert(keyResource, d.resourceTerm)
	}
	d.put(d.top, inAction, idTerm(in.Action))
}

// inputValue returns the input document of in, in a document of its own.
func inputValue(in *Input) ast.Value {
	d := newInputDoc()
	d.set(in)
	return d.top
}

// idTerm is the term of a string of the vocabulary, or a new one.
func idTerm(s string) *ast.Term {
	if t, ok := vocabulary[s]; ok {
		return t
	}
	return ast.StringTerm(s)
}

// Library ids, and the lists of them and of permissions, repeat from one
// decision to the next (a search decides one patron after another for the
// same subject; a consortium has a few dozen libraries), so their terms are
// kept in two small tables. A table is direct-mapped: a string or list has
// one slot, chosen by its hash, and replaces whatever was there. Entries are
// immutable and published atomically, so readers take no lock. Terms of the
// input are never modified by evaluation, so they can be shared.
const (
	libraryTableSize = 1024
	listTableSize    = 1024
)

type libraryEntry struct {
	s string
	t *ast.Term
}

type listEntry struct {
	ss []string
	t  *ast.Term
}

var (
	internSeed   = maphash.MakeSeed()
	libraryTable [libraryTableSize]atomic.Pointer[libraryEntry]
	listTable    [listTableSize]atomic.Pointer[listEntry]
	emptyList    = ast.ArrayTerm()
)

// libraryTerm is the term of a library id (or of a string of the
// vocabulary).
func libraryTerm(s string) *ast.Term {
	if t, ok := vocabulary[s]; ok {
		return t
	}
	slot := &libraryTable[maphash.String(internSeed, s)%libraryTableSize]
	if e := slot.Load(); e != nil && e.s == s {
		return e.t
	}
	t := ast.StringTerm(s)
	slot.Store(&libraryEntry{s: s, t: t})
	return t
}

// listTerm is the term of an array of library ids or permissions.
func listTerm(ss []string) *ast.Term {
	if len(ss) == 0 {
		return emptyList
	}
	var h maphash.Hash
	h.SetSeed(internSeed)
	for _, s := range ss {
		h.WriteString(s)
		h.WriteByte(0)
	}
	slot := &listTable[h.Sum64()%listTableSize]
	if e := slot.Load(); e != nil && slices.Equal(e.ss, ss) {
		return e.t
	}
	terms := make([]*ast.Term, len(ss))
	for i, s := range ss {
		terms[i] = libraryTerm(s)
	}
	t := ast.ArrayTerm(terms...)
	slot.Store(&listEntry{ss: slices.Clone(ss), t: t})
	return t
}

// decodeDecision converts the decision object straight into a Decision,
// skipping OPA's generic ast -> map[string]any conversion. The fields and
// the reasons share one slice, with room for the reasons Floor may add.
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
	fields, reasons := obj.Get(keyFields), obj.Get(keyReasons)
	if fields == nil && reasons == nil {
		return d, nil
	}
	nf, err := stringsLen(fields, "fields")
	if err != nil {
		return Decision{}, err
	}
	nr, reasonsErr := stringsLen(reasons, "reasons") // reported after the fields' errors
	const floorRoom = 2
	buf := make([]string, 0, nf+nr+floorRoom)
	if buf, err = appendStrings(buf, fields, "fields"); err != nil {
		return Decision{}, err
	}
	if fields != nil {
		d.Fields = buf[:nf:nf]
	}
	if reasonsErr != nil {
		return Decision{}, reasonsErr
	}
	if buf, err = appendStrings(buf, reasons, "reasons"); err != nil {
		return Decision{}, err
	}
	if reasons != nil {
		d.Reasons = buf[nf:]
	}
	return d, nil
}

// stringsLen is the length of the array or set t (nil: none).
func stringsLen(t *ast.Term, name string) (int, error) {
	if t == nil {
		return 0, nil
	}
	switch v := t.Value.(type) {
	case *ast.Array:
		return v.Len(), nil
	case ast.Set:
		return v.Len(), nil
	}
	return 0, fmt.Errorf("policy: decision.%s is %s, want array of strings", name, ast.ValueName(t.Value))
}

// appendStrings appends the strings of the array or set t to out.
func appendStrings(out []string, t *ast.Term, name string) ([]string, error) {
	if t == nil {
		return out, nil
	}
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
		for i := range v.Len() {
			if err := add(v.Elem(i)); err != nil {
				return nil, err
			}
		}
	case ast.Set:
		for _, e := range v.Slice() {
			if err := add(e); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}
