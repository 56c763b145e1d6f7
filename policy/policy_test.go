package policy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/open-policy-agent/opa/v1/rego"
)

// Fixtures: patron p1 belongs to L1, consents to L2, has an active loan at L3.
func record() Resource {
	return Resource{
		PatronID:             "p1",
		HomeLibraryID:        "L1",
		ConsentLibraryIDs:    []string{"L2"},
		ActiveLoanLibraryIDs: []string{"L3"},
		OptionalDataConsent:  true,
	}
}

func noOptional() Resource { r := record(); r.OptionalDataConsent = false; return r }
func archived() Resource   { r := record(); r.Archived = true; return r }

var allPerms = []string{
	PermPatronRead, PermPatronWrite, PermPatronIdentifiers, PermPatronSpecialCategory,
	PermConsentWrite, PermLoanManage, PermLibraryManage,
}

var allActions = []string{
	ActionPatronRead, ActionPatronUpdate, ActionConsentWrite, ActionLoanCheckout,
	ActionLoanRead, ActionLoanHistoryRead, ActionFeeRead,
}

func staff(lib string, perms ...string) Subject {
	return Subject{Kind: KindStaff, AccountID: "s1", LibraryID: lib, Permissions: perms}
}

var operator = Subject{Kind: KindOperator, AccountID: "op1", Permissions: allPerms}

func patron(id string) Subject { return Subject{Kind: KindPatron, AccountID: id} }

var (
	recordGroups  = []string{FieldName, FieldBirthDate, FieldAddress, FieldCards, FieldService, FieldContact, FieldGuardian}
	loanGroups    = []string{FieldName, FieldAddress, FieldCards, FieldContact}
	noConsentL9   = "patron has not consented to sharing with library L9; the patron can give consent to library L9"
	operatorDeny  = "the consortium operator never reads patron records"
	historyDeny   = "loan history is visible only to the patron, in their own account"
	archivedDeny  = "patron account is archived and not usable for service: only the home library can read it"
	noIdentifiers = "id_document, national_ids withheld: missing permission patron.identifiers"
	noSpecial     = "special_category withheld: missing permission patron.special_category"
)

func without(groups []string, drop ...string) []string {
	return slices.DeleteFunc(slices.Clone(groups), func(g string) bool { return slices.Contains(drop, g) })
}

func newEngine(t testing.TB, b Bundle) *Engine {
	t.Helper()
	e, err := NewEngine(context.Background(), b)
	if err != nil {
		t.Fatalf("NewEngine: %v", err)
	}
	return e
}

var (
	builtinOnce   sync.Once
	builtinEngine *Engine
	builtinErr    error
)

func builtin(t testing.TB) *Engine {
	t.Helper()
	builtinOnce.Do(func() { builtinEngine, builtinErr = NewEngine(context.Background(), Builtin()) })
	if builtinErr != nil {
		t.Fatalf("NewEngine(Builtin()): %v", builtinErr)
	}
	return builtinEngine
}

type ruleCase struct {
	name    string
	subject Subject
	action  string
	res     Resource
	allow   bool
	fields  []string // exact, canonical order; nil for none
	reasons []string // exact when set
	has     []string // reasons that must be present
}

func TestBuiltinRules(t *testing.T) {
	cases := []ruleCase{
		// Rule 1: home library staff.
		{name: "1 home read", subject: staff("L1", PermPatronRead), action: ActionPatronRead, res: record(), allow: true,
			fields:  recordGroups,
			reasons: []string{"home library L1", noIdentifiers, noSpecial}},
		{name: "1 home read without optional-data consent", subject: staff("L1", PermPatronRead), action: ActionPatronRead, res: noOptional(), allow: true,
			fields: without(recordGroups, FieldContact),
			has:    []string{"contact withheld: the patron has not consented to optional data"}},
		{name: "1 home read with identifiers", subject: staff("L1", PermPatronRead, PermPatronIdentifiers), action: ActionPatronRead, res: record(), allow: true,
			fields: []string{FieldName, FieldBirthDate, FieldAddress, FieldCards, FieldService, FieldContact, FieldGuardian, FieldIDDocument, FieldNationalIDs}},
		{name: "1 home read with special category", subject: staff("L1", PermPatronRead, PermPatronSpecialCategory), action: ActionPatronRead, res: record(), allow: true,
			fields: append(slices.Clone(recordGroups), FieldSpecialCategory)},
		{name: "1 home read all permissions", subject: staff("L1", allPerms...), action: ActionPatronRead, res: record(), allow: true,
			fields: FieldGroups(), reasons: []string{"home library L1"}},
		{name: "1 home read missing permission", subject: staff("L1", PermLoanManage), action: ActionPatronRead, res: record(),
			reasons: []string{"missing permission patron.read"}},

		// Rule 2: another library with consent.
		{name: "2 consent read", subject: staff("L2", PermPatronRead), action: ActionPatronRead, res: record(), allow: true,
			fields: recordGroups,
			has:    []string{"patron consented to sharing with library L2", "id_document, national_ids are shown only to the home library"}},
		{name: "2 consent read never identifiers", subject: staff("L2", allPerms...), action: ActionPatronRead, res: record(), allow: true,
			fields: append(slices.Clone(recordGroups), FieldSpecialCategory)},
		{name: "2 consent read without optional-data consent", subject: staff("L2", PermPatronRead), action: ActionPatronRead, res: noOptional(), allow: true,
			fields: without(recordGroups, FieldContact)},
		{name: "2 consent read missing permission", subject: staff("L2", PermLoanManage), action: ActionPatronRead, res: record(),
			reasons: []string{"missing permission patron.read"}},
		{name: "2 consent withdrawn", subject: staff("L2", PermPatronRead), action: ActionPatronRead,
			res:     func() Resource { r := record(); r.ConsentLibraryIDs = nil; return r }(),
			reasons: []string{"patron has not consented to sharing with library L2; the patron can give consent to library L2"}},

		// Rule 3: active loan, no consent.
		{name: "3 active loan read with loan.manage", subject: staff("L3", PermLoanManage), action: ActionPatronRead, res: record(), allow: true,
			fields: loanGroups, reasons: []string{"active loan at L3: only the data needed to handle the loan"}},
		{name: "3 active loan read with every permission", subject: staff("L3", allPerms...), action: ActionPatronRead, res: record(), allow: true,
			fields: loanGroups},
		{name: "3 active loan read without optional-data consent", subject: staff("L3", PermPatronRead), action: ActionPatronRead, res: noOptional(), allow: true,
			fields: without(loanGroups, FieldContact)},
		{name: "3 active loan read missing permission", subject: staff("L3", PermLibraryManage), action: ActionPatronRead, res: record(),
			reasons: []string{"missing permission loan.manage or patron.read"}},
		{name: "3 active loan read loans", subject: staff("L3", PermLoanManage), action: ActionLoanRead, res: record(), allow: true,
			fields: loanGroups, reasons: []string{"active loan at L3"}},
		{name: "3 active loan and consent: consent view", subject: staff("L3", PermPatronRead), action: ActionPatronRead,
			res:   func() Resource { r := record(); r.ConsentLibraryIDs = []string{"L3"}; return r }(),
			allow: true, fields: recordGroups},
		{name: "3 active loan does not allow checkout", subject: staff("L3", PermLoanManage), action: ActionLoanCheckout, res: record(),
			reasons: []string{"patron has not consented to sharing with library L3; the patron can give consent to library L3"}},
		{name: "3 active loan does not allow fees", subject: staff("L3", PermLoanManage), action: ActionFeeRead, res: record()},

		// Rule 5: loan history.
		{name: "5 loan history home staff", subject: staff("L1", allPerms...), action: ActionLoanHistoryRead, res: record(),
			reasons: []string{historyDeny}},
		{name: "5 loan history consent staff", subject: staff("L2", allPerms...), action: ActionLoanHistoryRead, res: record(),
			has: []string{historyDeny}},
		{name: "5 loan history lending staff", subject: staff("L3", allPerms...), action: ActionLoanHistoryRead, res: record(),
			has: []string{historyDeny}},

		// Rule 6: missing permission, missing relation.
		{name: "6 no relation", subject: staff("L9", PermPatronRead, PermLoanManage), action: ActionPatronRead, res: record(),
			reasons: []string{noConsentL9}},
		{name: "6 no relation checkout", subject: staff("L9", PermLoanManage), action: ActionLoanCheckout, res: record(),
			reasons: []string{noConsentL9}},
		{name: "6 no relation loans", subject: staff("L9", PermLoanManage), action: ActionLoanRead, res: record(),
			reasons: []string{noConsentL9}},
		{name: "6 no relation and no permission", subject: staff("L9"), action: ActionPatronRead, res: record(),
			reasons: []string{"missing permission patron.read", noConsentL9}},
		{name: "6 update missing permission", subject: staff("L1", PermLibraryManage), action: ActionPatronUpdate, res: record(),
			reasons: []string{"missing permission patron.write"}},
		{name: "6 consent.write missing permission", subject: staff("L1", PermLibraryManage), action: ActionConsentWrite, res: record(),
			reasons: []string{"missing permission consent.write"}},
		{name: "6 checkout missing permission", subject: staff("L1", PermPatronRead), action: ActionLoanCheckout, res: record(),
			reasons: []string{"missing permission loan.manage"}},
		{name: "6 loan.read missing permission", subject: staff("L1", PermLibraryManage), action: ActionLoanRead, res: record(),
			reasons: []string{"missing permission loan.manage or patron.read"}},
		{name: "6 fee.read missing permission", subject: staff("L1", PermLibraryManage), action: ActionFeeRead, res: record(),
			reasons: []string{"missing permission loan.manage or patron.read"}},
		{name: "6 staff without library", subject: staff("", allPerms...), action: ActionPatronRead,
			res: func() Resource { r := record(); r.HomeLibraryID = ""; return r }(),
			has: []string{"staff account has no library"}},

		// Other staff actions.
		{name: "update home", subject: staff("L1", PermPatronWrite), action: ActionPatronUpdate, res: record(), allow: true,
			fields: recordGroups},
		{name: "update other library", subject: staff("L2", allPerms...), action: ActionPatronUpdate, res: record(),
			reasons: []string{"only staff of the patron's home library can update the patron record"}},
		{name: "consent.write home", subject: staff("L1", PermConsentWrite), action: ActionConsentWrite, res: record(), allow: true,
			reasons: []string{"home library L1 records consent on the patron's behalf"}},
		{name: "consent.write other library", subject: staff("L2", allPerms...), action: ActionConsentWrite, res: record(),
			reasons: []string{"only staff of the patron's home library can record consent on the patron's behalf"}},
		{name: "checkout home", subject: staff("L1", PermLoanManage), action: ActionLoanCheckout, res: record(), allow: true,
			fields: loanGroups, reasons: []string{"home library L1"}},
		{name: "checkout consent", subject: staff("L2", PermLoanManage), action: ActionLoanCheckout, res: record(), allow: true,
			fields: loanGroups, reasons: []string{"patron consented to sharing with library L2"}},
		{name: "loans home", subject: staff("L1", PermPatronRead), action: ActionLoanRead, res: record(), allow: true, fields: loanGroups},
		{name: "fees consent", subject: staff("L2", PermLoanManage), action: ActionFeeRead, res: record(), allow: true, fields: loanGroups},

		// Archived accounts.
		{name: "archived home read", subject: staff("L1", PermPatronRead), action: ActionPatronRead, res: archived(), allow: true,
			fields: recordGroups},
		{name: "archived consent read", subject: staff("L2", allPerms...), action: ActionPatronRead, res: archived(), reasons: []string{archivedDeny}},
		{name: "archived lending read", subject: staff("L3", allPerms...), action: ActionPatronRead, res: archived(), reasons: []string{archivedDeny}},
		{name: "archived home update", subject: staff("L1", allPerms...), action: ActionPatronUpdate, res: archived(), reasons: []string{archivedDeny}},
		{name: "archived home checkout", subject: staff("L1", allPerms...), action: ActionLoanCheckout, res: archived(), reasons: []string{archivedDeny}},

		// Rule 7: the patron in the catalogue.
		{name: "7 own record", subject: patron("p1"), action: ActionPatronRead, res: noOptional(), allow: true,
			fields: FieldGroups(), reasons: []string{"the patron's own record"}},
		{name: "7 own loan history", subject: patron("p1"), action: ActionLoanHistoryRead, res: record(), allow: true, fields: FieldGroups()},
		{name: "7 own loans", subject: patron("p1"), action: ActionLoanRead, res: record(), allow: true, fields: FieldGroups()},
		{name: "7 own fees", subject: patron("p1"), action: ActionFeeRead, res: record(), allow: true, fields: FieldGroups()},
		{name: "7 own record update", subject: patron("p1"), action: ActionPatronUpdate, res: record(),
			reasons: []string{"a patron may not perform patron.update through the catalogue"}},
		{name: "7 other patron", subject: patron("p2"), action: ActionPatronRead, res: record(),
			reasons: []string{"a patron may only see their own record"}},
		{name: "7 other patron history", subject: patron("p2"), action: ActionLoanHistoryRead, res: record(),
			reasons: []string{"a patron may only see their own record"}},
		{name: "7 empty ids", subject: patron(""), action: ActionPatronRead,
			res: func() Resource { r := record(); r.PatronID = ""; return r }()},

		// Fail closed.
		{name: "unknown action", subject: staff("L1", allPerms...), action: "patron.delete", res: record(),
			reasons: []string{`unknown action "patron.delete"`}},
		{name: "unknown kind", subject: Subject{Kind: "robot", AccountID: "p1", LibraryID: "L1", Permissions: allPerms}, action: ActionPatronRead, res: record(),
			reasons: []string{`unknown subject kind "robot"`}},
	}
	// Rule 4: the operator, every action.
	for _, a := range allActions {
		cases = append(cases, ruleCase{name: "4 operator " + a, subject: operator, action: a, res: record(), reasons: []string{operatorDeny}})
	}

	e := builtin(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := e.Decide(context.Background(), Input{Subject: tc.subject, Action: tc.action, Resource: tc.res})
			if err != nil {
				t.Fatalf("Decide: %v", err)
			}
			if d.Allow != tc.allow {
				t.Errorf("Allow = %v, want %v (reasons %q)", d.Allow, tc.allow, d.Reasons)
			}
			if !slices.Equal(d.Fields, tc.fields) {
				t.Errorf("Fields = %q, want %q", d.Fields, tc.fields)
			}
			if tc.reasons != nil && !slices.Equal(d.Reasons, tc.reasons) {
				t.Errorf("Reasons = %q, want %q", d.Reasons, tc.reasons)
			}
			for _, r := range tc.has {
				if !slices.Contains(d.Reasons, r) {
					t.Errorf("Reasons = %q, want to contain %q", d.Reasons, r)
				}
			}
			if len(d.Reasons) == 0 {
				t.Error("no reasons")
			}
			for _, r := range d.Reasons {
				if strings.HasPrefix(r, "floor:") {
					t.Errorf("the built-in policy tripped the floor: %q", r)
				}
			}
		})
	}
}

// The built-in policy respects the floor on its own, for a broad sweep of
// inputs: Floor never has to change one of its decisions.
func TestBuiltinNeverTripsFloor(t *testing.T) {
	e := builtin(t)
	subjects := []Subject{operator, patron("p1"), patron("p2"), {Kind: "robot", AccountID: "p1", LibraryID: "L1"}}
	permSets := [][]string{nil, {PermPatronRead}, {PermLoanManage}, {PermPatronRead, PermPatronIdentifiers}, {PermPatronWrite, PermConsentWrite}, allPerms}
	for _, lib := range []string{"L1", "L2", "L3", "L9", ""} {
		for _, p := range permSets {
			subjects = append(subjects, staff(lib, p...))
		}
	}
	n := 0
	for _, s := range subjects {
		for _, a := range append(slices.Clone(allActions), "unknown") {
			for _, opt := range []bool{false, true} {
				for _, arch := range []bool{false, true} {
					r := record()
					r.OptionalDataConsent, r.Archived = opt, arch
					in := Input{Subject: s, Action: a, Resource: r}
					d, err := e.Decide(context.Background(), in)
					if err != nil {
						t.Fatalf("Decide(%+v): %v", in, err)
					}
					n++
					for _, reason := range d.Reasons {
						if strings.HasPrefix(reason, "floor:") {
							t.Errorf("Decide(%+v) tripped the floor: %q", in, d.Reasons)
						}
					}
					if len(d.Reasons) == 0 {
						t.Errorf("Decide(%+v): no reasons", in)
					}
				}
			}
		}
	}
	t.Logf("%d decisions", n)
}

// permissive allows everything, returns every group plus an unknown one.
var permissive = Bundle{Modules: map[string]string{"permissive.rego": `package patronfed.access

decision := {
	"allow": true,
	"fields": ["special_category", "name", "id_document", "national_ids", "secret_notes", "name", "contact"],
	"reasons": ["permissive test policy"],
}
`}}

// denyWithFields denies but (wrongly) returns fields.
var denyWithFields = Bundle{Modules: map[string]string{"deny.rego": `package patronfed.access

decision := {"allow": false, "fields": ["name", "id_document"], "reasons": ["no"]}
`}}

func TestFloorHoldsForPermissiveBundle(t *testing.T) {
	e := newEngine(t, permissive)
	const unknownDropped = `floor: dropped unknown field group "secret_notes"`
	cases := []struct {
		name    string
		in      Input
		allow   bool
		fields  []string
		reasons []string
	}{
		{"a loan history home staff", Input{staff("L1", allPerms...), ActionLoanHistoryRead, record()}, false, nil,
			[]string{"permissive test policy", floorLoanHistory}},
		{"a loan history operator", Input{operator, ActionLoanHistoryRead, record()}, false, nil,
			[]string{"permissive test policy", floorOperator}},
		{"a loan history other patron", Input{patron("p2"), ActionLoanHistoryRead, record()}, false, nil,
			[]string{"permissive test policy", floorLoanHistory}},
		{"a loan history own", Input{patron("p1"), ActionLoanHistoryRead, record()}, true,
			[]string{FieldName, FieldContact, FieldIDDocument, FieldNationalIDs, FieldSpecialCategory},
			[]string{"permissive test policy", unknownDropped}},
		{"b other library", Input{staff("L2", allPerms...), ActionPatronRead, record()}, true,
			[]string{FieldName, FieldContact, FieldSpecialCategory},
			[]string{"permissive test policy", unknownDropped, floorIdentifiers}},
		{"b no relation", Input{staff("L9"), ActionPatronRead, record()}, true,
			[]string{FieldName, FieldContact, FieldSpecialCategory},
			[]string{"permissive test policy", unknownDropped, floorIdentifiers}},
		{"b staff without library, patron without home", Input{staff(""), ActionPatronRead, Resource{PatronID: "p1"}}, true,
			[]string{FieldName, FieldContact, FieldSpecialCategory},
			[]string{"permissive test policy", unknownDropped, floorIdentifiers}},
		{"b unknown kind", Input{Subject{Kind: "robot", LibraryID: "L1"}, ActionPatronRead, record()}, true,
			[]string{FieldName, FieldContact, FieldSpecialCategory},
			[]string{"permissive test policy", unknownDropped, floorIdentifiers}},
		{"b home library keeps identifiers", Input{staff("L1"), ActionPatronRead, record()}, true,
			[]string{FieldName, FieldContact, FieldIDDocument, FieldNationalIDs, FieldSpecialCategory},
			[]string{"permissive test policy", unknownDropped}},
		{"c operator read", Input{operator, ActionPatronRead, record()}, false, nil,
			[]string{"permissive test policy", floorOperator}},
		{"c operator update", Input{operator, ActionPatronUpdate, record()}, false, nil,
			[]string{"permissive test policy", floorOperator}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := e.Decide(context.Background(), tc.in)
			if err != nil {
				t.Fatal(err)
			}
			want := Decision{Allow: tc.allow, Fields: tc.fields, Reasons: tc.reasons}
			if !equalDecision(d, want) {
				t.Errorf("Decide = %+v\nwant     %+v", d, want)
			}
		})
	}

	t.Run("d denied decision returns no fields", func(t *testing.T) {
		d, err := newEngine(t, denyWithFields).Decide(context.Background(), Input{staff("L1"), ActionPatronRead, record()})
		if err != nil {
			t.Fatal(err)
		}
		want := Decision{Reasons: []string{"no", floorDeniedNoField}}
		if !equalDecision(d, want) {
			t.Errorf("Decide = %+v, want %+v", d, want)
		}
	})
}

func equalDecision(a, b Decision) bool {
	return a.Allow == b.Allow && slices.Equal(a.Fields, b.Fields) && slices.Equal(a.Reasons, b.Reasons)
}

func TestFloor(t *testing.T) {
	in := Input{Subject: staff("L1"), Action: ActionPatronRead, Resource: record()}
	t.Run("normalises without reporting a change", func(t *testing.T) {
		d := Decision{Allow: true, Fields: []string{FieldCards, FieldName, FieldCards}, Reasons: []string{"b", "a", "b"}}
		got := Floor(in, d)
		want := Decision{Allow: true, Fields: []string{FieldName, FieldCards}, Reasons: []string{"a", "b"}}
		if !equalDecision(got, want) {
			t.Errorf("Floor = %+v, want %+v", got, want)
		}
		if d.Fields[0] != FieldCards || d.Reasons[0] != "b" {
			t.Error("Floor modified its argument")
		}
	})
	t.Run("allowed with no fields", func(t *testing.T) {
		got := Floor(in, Decision{Allow: true, Reasons: []string{"ok"}})
		if !got.Allow || got.Fields != nil || !slices.Equal(got.Reasons, []string{"ok"}) {
			t.Errorf("Floor = %+v", got)
		}
	})
	t.Run("denied without fields unchanged", func(t *testing.T) {
		got := Floor(in, Decision{Reasons: []string{"no"}})
		if got.Allow || got.Fields != nil || !slices.Equal(got.Reasons, []string{"no"}) {
			t.Errorf("Floor = %+v", got)
		}
	})
	t.Run("unknown groups of a denied decision", func(t *testing.T) {
		got := Floor(in, Decision{Fields: []string{"x"}})
		if !equalDecision(got, Decision{Reasons: []string{floorDeniedNoField}}) {
			t.Errorf("Floor = %+v", got)
		}
	})
	t.Run("every reason starts with floor:", func(t *testing.T) {
		for _, r := range []string{floorOperator, floorLoanHistory, floorIdentifiers, floorDeniedNoField} {
			if !strings.HasPrefix(r, "floor: ") {
				t.Errorf("%q", r)
			}
		}
	})
	t.Run("identifier indexes", func(t *testing.T) {
		if fieldGroups[idxIDDocument] != FieldIDDocument || fieldGroups[idxNationalIDs] != FieldNationalIDs {
			t.Fatal("idxIDDocument/idxNationalIDs out of date")
		}
	})
}

func TestDecisionHas(t *testing.T) {
	d := Decision{Allow: true, Fields: []string{FieldName}}
	if !d.Has(FieldName) || d.Has(FieldContact) {
		t.Errorf("Has on %+v", d)
	}
	if (Decision{Fields: []string{FieldName}}).Has(FieldName) {
		t.Error("a denied decision has no fields")
	}
}

// The vocabulary in Rego matches the Go constants.
func TestRegoVocabularyMatchesGo(t *testing.T) {
	ctx := context.Background()
	b := Builtin()
	rs, err := rego.New(
		rego.Query("x := [data.patronfed.access.all_groups, data.patronfed.access.actions]"),
		rego.Module("access.rego", b.Modules["access.rego"]),
	).Eval(ctx)
	if err != nil || len(rs) != 1 {
		t.Fatalf("eval: %v %v", rs, err)
	}
	got := rs[0].Bindings["x"].([]any)
	toStrings := func(v any) []string {
		var out []string
		for _, s := range v.([]any) {
			out = append(out, s.(string))
		}
		slices.Sort(out)
		return out
	}
	groups, actions := FieldGroups(), slices.Clone(allActions)
	slices.Sort(groups)
	slices.Sort(actions)
	if g := toStrings(got[0]); !slices.Equal(g, groups) {
		t.Errorf("rego all_groups = %q, Go = %q", g, groups)
	}
	if a := toStrings(got[1]); !slices.Equal(a, actions) {
		t.Errorf("rego actions = %q, Go = %q", a, actions)
	}
}

func TestBuiltinIsACopy(t *testing.T) {
	b := Builtin()
	if len(b.Modules) != 2 || b.Modules["access.rego"] == "" || b.Modules["access_test.rego"] == "" {
		t.Fatalf("Builtin modules: %v", slices.Sorted(maps.Keys(b.Modules)))
	}
	b.Modules["access.rego"] = "garbage"
	if Builtin().Modules["access.rego"] == "garbage" {
		t.Error("Builtin shares its map")
	}
}

func TestRunTestsBuiltin(t *testing.T) {
	results, err := RunTests(context.Background(), Builtin())
	if err != nil {
		t.Fatal(err)
	}
	if len(results) < 30 {
		t.Fatalf("only %d tests ran", len(results))
	}
	for _, r := range results {
		if !r.Pass {
			t.Errorf("%s.%s failed: %s", r.Package, r.Name, r.Fail)
		}
		if r.Package != "data.patronfed.access_test" || !strings.HasPrefix(r.Name, "test_") {
			t.Errorf("unexpected result %+v", r)
		}
	}
	if !slices.IsSortedFunc(results, func(a, b TestResult) int { return strings.Compare(a.Name, b.Name) }) {
		t.Error("results are not sorted")
	}
}

func TestRunTestsReportsFailure(t *testing.T) {
	b := Builtin()
	b.Modules["extra_test.rego"] = `package patronfed.extra_test

import data.patronfed.access

# The operator is never allowed: this test is wrong on purpose.
test_operator_allowed if {
	d := access.decision with input as {"subject": {"kind": "operator", "account_id": "o", "library_id": "", "permissions": []}, "action": "patron.read", "resource": {}}
	print("reasons:", d.reasons)
	d.allow
}

conflict := 1 if input.x == 1

conflict := 2 if input.x == 1

test_error if {
	conflict == 1 with input.x as 1
}

test_passes if true

todo_test_skipped if false
`
	results, err := RunTests(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]TestResult{}
	for _, r := range results {
		if r.Package == "data.patronfed.extra_test" {
			byName[r.Name] = r
		} else if !r.Pass {
			t.Errorf("built-in test %s failed: %s", r.Name, r.Fail)
		}
	}
	if r := byName["test_operator_allowed"]; r.Pass || !strings.HasPrefix(r.Fail, "extra_test.rego:6:") ||
		!strings.Contains(r.Fail, "the consortium operator never reads patron records") {
		t.Errorf("test_operator_allowed = %+v, want a failure at extra_test.rego:6 with the printed reasons", r)
	}
	if r := byName["test_error"]; r.Pass || !strings.Contains(r.Fail, "error") {
		t.Errorf("test_error = %+v, want a failure with an error", r)
	}
	if r := byName["test_passes"]; !r.Pass || r.Fail != "" {
		t.Errorf("test_passes = %+v", r)
	}
	if _, ok := byName["todo_test_skipped"]; ok {
		t.Error("skipped test reported")
	}
}

func TestRunTestsBrokenBundle(t *testing.T) {
	b := Builtin()
	b.Modules["access_test.rego"] = "package patronfed.access_test\n\ntest_x if {\n\tundefined_fn(1)\n}\n"
	_, err := RunTests(context.Background(), b)
	var be *BundleError
	if !errors.As(err, &be) || !strings.Contains(err.Error(), "access_test.rego:4") {
		t.Fatalf("RunTests = %v, want a BundleError at access_test.rego:4", err)
	}
}

func TestValidate(t *testing.T) {
	ctx := context.Background()
	if err := Validate(ctx, Builtin()); err != nil {
		t.Fatalf("Validate(Builtin()) = %v", err)
	}
	if err := Validate(ctx, permissive); err != nil {
		t.Fatalf("Validate(permissive) = %v", err)
	}

	cases := []struct {
		name    string
		modules map[string]string
		data    map[string]any
		want    string // substring of the error, with file:line
	}{
		{"syntax error", map[string]string{"bad.rego": "package patronfed.access\n\ndecision := {\n"}, nil, "bad.rego:4: rego_parse_error"},
		{"strict: unused variable", map[string]string{"strict.rego": "package patronfed.access\n\ndecision := {\"allow\": false, \"fields\": [], \"reasons\": []} if {\n\tx := 1\n}\n"},
			nil, "strict.rego:4"},
		{"undefined function", map[string]string{"fn.rego": "package patronfed.access\n\ndecision := nope(1)\n"}, nil, "fn.rego:3"},
		{"broken test file", map[string]string{
			"access.rego":      permissive.Modules["permissive.rego"],
			"access_test.rego": "package patronfed.access_test\n\ntest_x if {\n\ty := 2\n}\n",
		}, nil, "access_test.rego:4"},
		{"http.send is not allowed", map[string]string{"net.rego": "package patronfed.access\n\ndecision := http.send({\"method\": \"post\", \"url\": \"https://example.org\", \"body\": input}).body\n"},
			nil, "net.rego:3"},
		{"opa.runtime is not allowed", map[string]string{"env.rego": "package patronfed.access\n\ndecision := {\"allow\": false, \"fields\": [], \"reasons\": [opa.runtime().env.HOME]}\n"},
			nil, "env.rego:3"},
		{"no decision", map[string]string{"other.rego": "package patronfed.other\n\nx := 1\n"}, nil, "does not define data.patronfed.access.decision"},
		{"no modules", map[string]string{}, nil, "no policy modules"},
		{"rego v0 syntax", map[string]string{"v0.rego": "package patronfed.access\n\ndecision = d { d := {} }\n"}, nil, "v0.rego:3"},
		{"data conflicts with a rule", map[string]string{"access.rego": permissive.Modules["permissive.rego"]},
			map[string]any{"patronfed": map[string]any{"access": map[string]any{"decision": 1}}}, "conflict"},
		{"data not JSON", map[string]string{"access.rego": permissive.Modules["permissive.rego"]}, map[string]any{"x": make(chan int)}, "bundle data"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(ctx, Bundle{Modules: tc.modules, Data: tc.data})
			var be *BundleError
			if !errors.As(err, &be) {
				t.Fatalf("Validate = %v (%T), want *BundleError", err, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate = %v, want it to mention %q", err, tc.want)
			}
			if _, err := NewEngine(ctx, Bundle{Modules: tc.modules, Data: tc.data}); err == nil && !strings.Contains(tc.name, "test file") {
				t.Error("NewEngine accepted a bundle Validate rejects")
			}
		})
	}
}

func TestBundleData(t *testing.T) {
	b := Bundle{
		Modules: map[string]string{"p.rego": `package patronfed.access

decision := {"allow": allow, "fields": ["name"], "reasons": ["data policy"]}

default allow := false

allow if input.subject.library_id in data.patronfed.config.trusted_libraries
`},
		Data: map[string]any{"patronfed": map[string]any{"config": map[string]any{"trusted_libraries": []string{"L7"}}}},
	}
	e := newEngine(t, b)
	for lib, want := range map[string]bool{"L7": true, "L8": false} {
		d, err := e.Decide(context.Background(), Input{Subject: staff(lib), Action: ActionPatronRead, Resource: record()})
		if err != nil || d.Allow != want {
			t.Errorf("library %s: Decide = %+v, %v; want allow %v", lib, d, err, want)
		}
	}
}

func TestDecideUndefinedAndMalformed(t *testing.T) {
	ctx := context.Background()
	in := Input{Subject: staff("L1", allPerms...), Action: ActionPatronRead, Resource: record()}

	undefined := newEngine(t, Bundle{Modules: map[string]string{"u.rego": `package patronfed.access

decision := {"allow": true, "fields": ["name"], "reasons": ["only loans"]} if input.action == "loan.read"
`}})
	d, err := undefined.Decide(ctx, in)
	if err != nil || d.Allow || d.Fields != nil || len(d.Reasons) != 1 || !strings.Contains(d.Reasons[0], "undefined") {
		t.Errorf("undefined decision: %+v, %v", d, err)
	}

	for name, src := range map[string]string{
		"not an object":    `decision := "yes"`,
		"allow not bool":   `decision := {"allow": "true", "fields": [], "reasons": []}`,
		"fields not array": `decision := {"allow": true, "fields": "name", "reasons": []}`,
		"reason not str":   `decision := {"allow": true, "fields": [], "reasons": [1]}`,
	} {
		e := newEngine(t, Bundle{Modules: map[string]string{"m.rego": "package patronfed.access\n\n" + src + "\n"}})
		d, err := e.Decide(ctx, in)
		if err == nil || d.Allow || d.Fields != nil {
			t.Errorf("%s: Decide = %+v, %v; want a denial and an error", name, d, err)
		}
	}

	conflict := newEngine(t, Bundle{Modules: map[string]string{"c.rego": `package patronfed.access

decision := {"allow": true, "fields": [], "reasons": []} if input.action == "patron.read"

decision := {"allow": false, "fields": [], "reasons": []} if input.subject.kind == "staff"
`}})
	if d, err := conflict.Decide(ctx, in); err == nil || d.Allow {
		t.Errorf("conflicting decision: %+v, %v; want a denial and an error", d, err)
	}
}

func TestSwap(t *testing.T) {
	ctx := context.Background()
	e := newEngine(t, Builtin())
	in := Input{Subject: staff("L9", PermPatronRead), Action: ActionPatronRead, Resource: record()}

	if d, _ := e.Decide(ctx, in); d.Allow {
		t.Fatal("built-in allowed an unrelated library")
	}
	if err := e.Swap(ctx, permissive); err != nil {
		t.Fatal(err)
	}
	d, _ := e.Decide(ctx, in)
	if !d.Allow || d.Has(FieldIDDocument) {
		t.Fatalf("after Swap(permissive): %+v", d)
	}

	// A broken bundle is rejected and the engine keeps the previous one.
	err := e.Swap(ctx, Bundle{Modules: map[string]string{"bad.rego": "package patronfed.access\n\ndecision := \n"}})
	if err == nil || !strings.Contains(err.Error(), "bad.rego:") {
		t.Fatalf("Swap(broken) = %v", err)
	}
	if d, _ := e.Decide(ctx, in); !d.Allow {
		t.Fatal("a failed Swap replaced the policy")
	}

	if err := e.Swap(ctx, Builtin()); err != nil {
		t.Fatal(err)
	}
	if d, _ := e.Decide(ctx, in); d.Allow {
		t.Fatal("Swap back to the built-in policy did not take effect")
	}
}

// Decide and Swap concurrently; run with -race.
func TestConcurrentDecideAndSwap(t *testing.T) {
	ctx := context.Background()
	e := newEngine(t, Builtin())
	in := Input{Subject: staff("L2", allPerms...), Action: ActionPatronRead, Resource: record()}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 4 {
		wg.Go(func() {
			for i := range 50 {
				d, err := e.Decide(ctx, in)
				if err != nil {
					errs <- err
					return
				}
				// Whichever policy is current, the floor holds.
				if d.Has(FieldIDDocument) || d.Has(FieldNationalIDs) {
					errs <- fmt.Errorf("goroutine %d iteration %d: identifiers returned to another library", g, i)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for i := range 10 {
			b := Builtin()
			if i%2 == 0 {
				b = permissive
			}
			if err := e.Swap(ctx, b); err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
