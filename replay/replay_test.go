package replay

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/patronfed/patronfed/policy"
)

func TestDecodeInput(t *testing.T) {
	want := policy.Input{
		Subject: policy.Subject{Kind: "staff", AccountID: "a1", LibraryID: "L2", Permissions: []string{"patron.read"}},
		Action:  "patron.read",
		Resource: policy.Resource{PatronID: "p1", HomeLibraryID: "L1", ConsentLibraryIDs: []string{"L2"},
			ActiveLoanLibraryIDs: []string{}, OptionalDataConsent: true},
	}
	canonical := `{"action": "patron.read", "subject": {"kind": "staff", "account_id": "a1", "library_id": "L2", "permissions": ["patron.read"]},
		"resource": {"patron_id": "p1", "home_library_id": "L1", "consent_library_ids": ["L2"], "active_loan_library_ids": [],
		"optional_data_consent": true, "archived": false}}`
	got, err := DecodeInput([]byte(canonical))
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("canonical: %+v, %v", got, err)
	}
	goForm, _ := json.Marshal(want)
	if got, err := DecodeInput(goForm); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Go field names: %+v, %v", got, err)
	}
	for _, bad := range []string{`{}`, `{"action": "patron.read"}`, `[1]`, `not json`} {
		if _, err := DecodeInput([]byte(bad)); err == nil {
			t.Errorf("%s: decoded", bad)
		}
	}
}

func TestSameSet(t *testing.T) {
	if !sameSet([]string{"b", "a", "a"}, []string{"a", "b"}) || sameSet([]string{"a"}, []string{"a", "b"}) || !sameSet(nil, []string{}) {
		t.Fatal("sameSet")
	}
}
