package policy

import (
	"embed"
	"io/fs"
	"maps"
	"path"
	"slices"
)

// Subject kinds.
const (
	KindStaff    = "staff"
	KindOperator = "operator"
	KindPatron   = "patron"
)

// Permissions a staff role may carry.
const (
	PermPatronRead  = "patron.read"
	PermPatronWrite = "patron.write"
	// PermPatronIdentifiers allows reading the ID document number and the
	// national identifiers (registrars and managers at the home library).
	PermPatronIdentifiers = "patron.identifiers"
	// PermPatronSpecialCategory allows reading special-category (health)
	// data: registration with an accessible-media service.
	PermPatronSpecialCategory = "patron.special_category"
	PermConsentWrite          = "consent.write"
	PermLoanManage            = "loan.manage"
	PermLibraryManage         = "library.manage"
)

// Actions on a patron.
const (
	ActionPatronRead      = "patron.read"   // get, search hit, list
	ActionPatronUpdate    = "patron.update" // home library only
	ActionConsentWrite    = "consent.write" // staff recording consent on the patron's behalf
	ActionLoanCheckout    = "loan.checkout"
	ActionLoanRead        = "loan.read" // active loans
	ActionLoanHistoryRead = "loan_history.read"
	ActionFeeRead         = "fee.read"
)

// Field groups of a patron record.
const (
	FieldName            = "name"
	FieldBirthDate       = "birth_date"
	FieldAddress         = "address" // permanent and contact address
	FieldCards           = "cards"
	FieldService         = "service" // category, home library, registration/last activity dates, mother tongue
	FieldContact         = "contact" // optional data: e-mail, phone, academic titles
	FieldGuardian        = "guardian"
	FieldIDDocument      = "id_document"
	FieldNationalIDs     = "national_ids"
	FieldSpecialCategory = "special_category"
)

// fieldGroups is the canonical order of the field groups; Decision.Fields
// returned by Decide and Floor follow it.
var fieldGroups = [...]string{
	FieldName, FieldBirthDate, FieldAddress, FieldCards, FieldService,
	FieldContact, FieldGuardian, FieldIDDocument, FieldNationalIDs, FieldSpecialCategory,
}

// FieldGroups returns every known field group in canonical order.
func FieldGroups() []string { return slices.Clone(fieldGroups[:]) }

// Subject is the caller: a staff member, the consortium operator or a patron
// using the catalogue.
type Subject struct {
	Kind        string   // KindStaff, KindOperator or KindPatron
	AccountID   string   // staff/operator account, or the patron's own ID
	LibraryID   string   // staff only: the library the staff member works for
	Permissions []string // Perm* constants
}

// Resource is the patron the subject wants to act on.
type Resource struct {
	PatronID             string
	HomeLibraryID        string
	ConsentLibraryIDs    []string // libraries the patron currently consents to share with
	ActiveLoanLibraryIDs []string // libraries where the patron has an active loan right now
	OptionalDataConsent  bool
	Archived             bool
}

// Input is one access question.
type Input struct {
	Subject  Subject
	Action   string // Action* constants
	Resource Resource
}

// Decision is the answer: whether the action is allowed, which field groups
// of the record may be returned, and human-readable reasons.
type Decision struct {
	Allow   bool
	Fields  []string
	Reasons []string
}

// Has reports whether field group field may be returned.
func (d Decision) Has(field string) bool {
	return d.Allow && slices.Contains(d.Fields, field)
}

// Bundle is a set of Rego modules plus the data they read under data.
type Bundle struct {
	// Modules maps a file name to Rego (v1) source. Files whose name ends in
	// _test.rego are tests: RunTests and Validate use them, the Engine
	// ignores them.
	Modules map[string]string
	// Data is the JSON-compatible document exposed to the policy as data.
	Data map[string]any
}

//go:embed rego/*.rego
var builtinFS embed.FS

var builtinModules = func() map[string]string {
	m := map[string]string{}
	err := fs.WalkDir(builtinFS, "rego", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := builtinFS.ReadFile(p)
		if err != nil {
			return err
		}
		m[path.Base(p)] = string(b)
		return nil
	})
	if err != nil {
		panic("policy: reading embedded rego: " + err.Error())
	}
	return m
}()

// Builtin returns the built-in policy (version 1 of the product), including
// its tests. The returned bundle is a copy; callers may modify it.
func Builtin() Bundle {
	return Bundle{Modules: maps.Clone(builtinModules), Data: map[string]any{}}
}
