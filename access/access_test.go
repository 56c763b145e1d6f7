package access_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/patronfed/patronfed/access"
	"github.com/patronfed/patronfed/audit"
	"github.com/patronfed/patronfed/identity"
	"github.com/patronfed/patronfed/policy"
	"github.com/patronfed/patronfed/requestid"
)

type failing struct{}

func (failing) Decide(context.Context, policy.Input) (policy.Decision, int64, error) {
	return policy.Decision{Allow: true, Fields: []string{"name"}}, 3, errors.New("boom")
}

type recorder struct{ got []audit.Entry }

func (r *recorder) Record(_ context.Context, es ...audit.Entry) error {
	r.got = append(r.got, es...)
	return nil
}

var staff = identity.Principal{Kind: identity.KindStaff, ID: "00000000-0000-4000-8000-000000000001",
	LibraryID: "00000000-0000-4000-8000-00000000000b", Roles: []string{"registrar"},
	Permissions: []string{"patron.read"}, TokenID: "jti"}

func TestInputRoundTripsAsTheRegoDocument(t *testing.T) {
	in := policy.Input{
		Subject: access.Subject(staff), Action: policy.ActionPatronRead,
		Resource: policy.Resource{PatronID: "p", HomeLibraryID: "h", ConsentLibraryIDs: []string{"c"},
			ActiveLoanLibraryIDs: []string{}, OptionalDataConsent: true},
	}
	raw := access.InputJSON(in)
	var doc map[string]map[string]any
	_ = json.Unmarshal(raw, &doc)
	if doc["resource"]["home_library_id"] != "h" || doc["subject"]["library_id"] != staff.LibraryID {
		t.Errorf("input document %s", raw)
	}
	back, err := access.ParseInput(raw)
	if err != nil || !reflect.DeepEqual(back, in) {
		t.Errorf("round trip: %+v, %v", back, err)
	}
	// A patron acts for no library.
	if s := access.Subject(identity.Principal{Kind: identity.KindPatron, ID: "p", LibraryID: "h"}); s.LibraryID != "" {
		t.Errorf("patron subject %+v", s)
	}
}

func TestGuardFailsClosedAndAuditsTheDecision(t *testing.T) {
	rec := &recorder{}
	g := access.NewGuard(failing{}, rec, nil)
	ctx := requestid.With(context.Background(), "req-1")
	d := g.DecideFor(ctx, staff, policy.ActionPatronRead, policy.Resource{PatronID: "00000000-0000-4000-8000-0000000000aa"})
	if d.Allow || d.Fields != nil || d.Version != 3 {
		t.Fatalf("decision on a policy error: %+v", d)
	}
	if err := g.Record(ctx, g.Entry(ctx, staff, d)); err != nil {
		t.Fatal(err)
	}
	e := rec.got[0]
	if e.Allowed || e.RequestID != "req-1" || e.ActorLibraryID != staff.LibraryID || e.TokenID != "jti" ||
		e.PatronID != "00000000-0000-4000-8000-0000000000aa" || e.PolicyVersion != 3 || len(e.Input) == 0 {
		t.Errorf("entry %+v", e)
	}
	if r := g.Refusal(ctx, staff, d, "x"); r.Input != nil || r.Allowed {
		t.Errorf("refusal %+v", r)
	}
}
