package policies_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/patronfed/patronfed/audit"
	"github.com/patronfed/patronfed/clock"
	"github.com/patronfed/patronfed/config"
	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
	"github.com/patronfed/patronfed/identity"
	"github.com/patronfed/patronfed/pgtest"
	"github.com/patronfed/patronfed/policy"
	"github.com/patronfed/patronfed/testserver"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// candidate is a policy that differs from the built-in one in every way a
// dry run reports: home-library reads get fewer fields, consent reads are
// denied, and any library may check out.
const candidate = `package patronfed.access

home if {
	input.subject.kind == "staff"
	input.subject.library_id != ""
	input.subject.library_id == input.resource.home_library_id
}

decision := {"allow": true, "fields": ["name", "cards"], "reasons": ["candidate: home library"]} if {
	home
} else := {"allow": true, "fields": ["name"], "reasons": ["candidate: any library may check out"]} if {
	input.action == "loan.checkout"
} else := {"allow": false, "fields": [], "reasons": ["candidate: home library only"]}
`

const candidateTests = `package patronfed.access_test

import data.patronfed.access

test_home_reads if {
	access.decision.allow with input as {"action": "patron.read", "subject": {"kind": "staff", "library_id": "L1"}, "resource": {"home_library_id": "L1"}}
}

test_others_denied if {
	not access.decision.allow with input as {"action": "patron.read", "subject": {"kind": "staff", "library_id": "L2"}, "resource": {"home_library_id": "L1"}}
}
`

// A test that fails: the candidate denies consent reads.
const failingTest = `package patronfed.access_test

import data.patronfed.access

test_consent_reads if {
	access.decision.allow with input as {"action": "patron.read", "subject": {"kind": "staff", "library_id": "L2"}, "resource": {"home_library_id": "L1", "consent_library_ids": ["L2"]}}
}
`

// permissive allows everything with every field group (and one the
// product does not know); only the floor stands in its way.
const permissive = `package patronfed.access

decision := {
	"allow": true,
	"fields": ["name", "birth_date", "address", "cards", "service", "contact", "guardian", "id_document", "national_ids", "special_category", "loan_history_everything"],
	"reasons": ["permissive: allow everything"],
}
`

const permissiveTests = `package patronfed.access_test

import data.patronfed.access

test_allows_everything if access.decision.allow
`

func bundle(mods ...string) *pb.PolicyBundle {
	b := &pb.PolicyBundle{Modules: map[string]string{}}
	for i := 0; i+1 < len(mods); i += 2 {
		b.Modules[mods[i]] = mods[i+1]
	}
	return b
}

func wantCode(t *testing.T, err error, code codes.Code) *status.Status {
	t.Helper()
	st, _ := status.FromError(err)
	if st.Code() != code {
		t.Fatalf("got %v, want %v", err, code)
	}
	return st
}

type fixture struct {
	s                *testserver.Server
	op               context.Context
	pc               pb.PolicyServiceClient
	brno, slav, kors string
	// A BRNO patron who consents to sharing with SLAV.
	patron string
	staff  map[string]string // username -> account id
}

func setup(t *testing.T, s *testserver.Server) *fixture {
	t.Helper()
	f := &fixture{s: s, op: testserver.Ctx(s.Login(t, "operator")), pc: pb.NewPolicyServiceClient(s.Conn),
		brno: s.LibraryID(t, "BRNO"), slav: s.LibraryID(t, "SLAV"), kors: s.LibraryID(t, "KORS"), staff: map[string]string{}}
	ctx := context.Background()
	if err := s.DB.QueryRow(ctx, `INSERT INTO patrons (home_library_id) VALUES ($1) RETURNING id::text`, f.brno).Scan(&f.patron); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB.Exec(ctx, `INSERT INTO consents (patron_id, library_id, granted_at, method) VALUES ($1, $2, now(), 'in_person')`, f.patron, f.slav); err != nil {
		t.Fatal(err)
	}
	rows, err := s.DB.Query(ctx, `SELECT username, id::text FROM accounts`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var u, id string
		if err := rows.Scan(&u, &id); err != nil {
			t.Fatal(err)
		}
		f.staff[u] = id
	}
	return f
}

func (f *fixture) explain(t *testing.T, c pb.PolicyServiceClient, user, action string) *pb.ExplainAccessResponse {
	t.Helper()
	r, err := c.ExplainAccess(f.op, &pb.ExplainAccessRequest{StaffAccountId: f.staff[user], PatronId: f.patron, Action: action})
	if err != nil {
		t.Fatalf("explain %s %s: %v", user, action, err)
	}
	return r
}

// seed audits decisions the built-in policy made, as the staff services
// record them, so that a dry run has something to replay.
func (f *fixture) seed(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	engine, err := policy.NewEngine(ctx, policy.Builtin())
	if err != nil {
		t.Fatal(err)
	}
	roles := map[string][]string{"brno.reg": {"registrar"}, "slav.reg": {"registrar"}, "kors.reg": {"registrar"}, "kors.circ": {"circulation"}}
	libs := map[string]string{"brno.reg": f.brno, "slav.reg": f.slav, "kors.reg": f.kors, "kors.circ": f.kors}
	var entries []audit.Entry
	for _, q := range []struct{ user, action string }{
		{"brno.reg", policy.ActionPatronRead},    // allowed; candidate: fewer fields
		{"slav.reg", policy.ActionPatronRead},    // allowed by consent; candidate: denied
		{"kors.reg", policy.ActionPatronRead},    // denied both times
		{"kors.circ", policy.ActionLoanCheckout}, // denied; candidate: allowed
	} {
		in := policy.Input{
			Subject:  policy.Subject{Kind: policy.KindStaff, AccountID: f.staff[q.user], LibraryID: libs[q.user], Permissions: identity.Permissions(roles[q.user])},
			Action:   q.action,
			Resource: policy.Resource{PatronID: f.patron, HomeLibraryID: f.brno, ConsentLibraryIDs: []string{f.slav}},
		}
		d, err := engine.Decide(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := json.Marshal(map[string]any{
			"subject": map[string]any{"kind": in.Subject.Kind, "account_id": in.Subject.AccountID, "library_id": in.Subject.LibraryID, "permissions": in.Subject.Permissions},
			"action":  in.Action,
			"resource": map[string]any{"patron_id": f.patron, "home_library_id": f.brno, "consent_library_ids": []string{f.slav},
				"active_loan_library_ids": []string{}, "optional_data_consent": false, "archived": false},
		})
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, audit.Entry{ActorKind: "staff", ActorID: f.staff[q.user], ActorLibraryID: libs[q.user],
			Action: q.action, PatronID: f.patron, Allowed: d.Allow, Reasons: d.Reasons, Fields: d.Fields, PolicyVersion: 1, Input: raw})
	}
	w := audit.NewWriter(f.s.DB, clock.NewFake(testserver.Epoch), nil)
	defer w.Close()
	if err := w.Record(ctx, entries...); err != nil {
		t.Fatal(err)
	}
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	f := setup(t, s)
	f.seed(t)
	ctx, pc := f.op, f.pc

	// The built-in policy is version 1, active, authored by "builtin".
	list, err := pc.ListPolicies(ctx, &pb.ListPoliciesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if list.GetActiveVersion() != 1 || len(list.GetPolicies()) != 1 || list.GetPolicies()[0].GetAuthorUsername() != "builtin" || !list.GetPolicies()[0].GetActive() {
		t.Fatalf("initial versions: %v", list)
	}
	if r := f.explain(t, pc, "slav.reg", ""); !r.GetAllow() || r.GetPolicyVersion() != 1 {
		t.Fatalf("consent read under the built-in policy: %v", r)
	}

	// A bundle that does not compile is refused with the file and line.
	_, err = pc.UploadPolicy(ctx, &pb.UploadPolicyRequest{Bundle: bundle("broken.rego", "package patronfed.access\n\ndecision := {\"allow\": tru\n")})
	st := wantCode(t, err, codes.InvalidArgument)
	if !strings.Contains(st.Message(), "broken.rego:") {
		t.Errorf("compile error without location: %s", st.Message())
	}
	// ValidatePolicy reports the same without storing anything.
	vr, err := pc.ValidatePolicy(ctx, &pb.ValidatePolicyRequest{Source: &pb.ValidatePolicyRequest_Bundle{Bundle: bundle("broken.rego", "package patronfed.access\n\nx := y\n")}})
	if err != nil || vr.GetValid() || len(vr.GetProblems()) == 0 || vr.GetProblems()[0].GetFile() != "broken.rego" || vr.GetProblems()[0].GetLine() != 3 {
		t.Fatalf("validate: %v, %v", vr, err)
	}

	// Upload the candidate.
	up, err := pc.UploadPolicy(ctx, &pb.UploadPolicyRequest{Bundle: bundle("access.rego", candidate, "access_test.rego", candidateTests), Description: "home library only"})
	if err != nil {
		t.Fatal(err)
	}
	v := up.GetPolicy().GetVersion()
	if v != 2 || up.GetPolicy().GetActive() || up.GetPolicy().GetAuthorUsername() != "operator" || len(up.GetPolicy().GetSha256()) != 64 {
		t.Fatalf("uploaded: %v", up.GetPolicy())
	}
	if vr, err := pc.ValidatePolicy(ctx, &pb.ValidatePolicyRequest{Source: &pb.ValidatePolicyRequest_Version{Version: v}}); err != nil || !vr.GetValid() {
		t.Fatalf("validate stored: %v, %v", vr, err)
	}

	// Its tests.
	tr, err := pc.TestPolicy(ctx, &pb.TestPolicyRequest{Version: v})
	if err != nil || tr.GetPassed() != 2 || tr.GetFailed() != 0 {
		t.Fatalf("tests: %v, %v", tr, err)
	}

	// Dry run against the audited decisions.
	dr, err := pc.DryRunPolicy(ctx, &pb.DryRunPolicyRequest{Version: v, Last: 100})
	if err != nil {
		t.Fatal(err)
	}
	if dr.GetEvaluated() != 4 || dr.GetAllowToDeny() != 1 || dr.GetDenyToAllow() != 1 || dr.GetFieldsChanged() != 1 || dr.GetErrors() != 0 {
		t.Fatalf("dry run counts: %v", dr)
	}
	kinds := map[pb.DecisionChangeKind]*pb.DecisionChange{}
	for _, c := range dr.GetChanges() {
		kinds[c.GetKind()] = c
		if c.GetPatronId() != f.patron || c.GetBefore().GetPolicyVersion() != 1 || c.GetAfter().GetPolicyVersion() != v {
			t.Errorf("change: %v", c)
		}
	}
	if c := kinds[pb.DecisionChangeKind_DECISION_CHANGE_KIND_ALLOW_TO_DENY]; c.GetActorId() != f.staff["slav.reg"] ||
		!contains(c.GetAfter().GetReasons(), "candidate: home library only") || len(c.GetBefore().GetReasons()) == 0 {
		t.Errorf("allow→deny: %v", c)
	}
	if c := kinds[pb.DecisionChangeKind_DECISION_CHANGE_KIND_DENY_TO_ALLOW]; c.GetActorId() != f.staff["kors.circ"] || c.GetAction() != "loan.checkout" {
		t.Errorf("deny→allow: %v", c)
	}
	if c := kinds[pb.DecisionChangeKind_DECISION_CHANGE_KIND_FIELDS_CHANGED]; c.GetActorId() != f.staff["brno.reg"] ||
		strings.Join(c.GetAfter().GetFields(), ",") != "name,cards" {
		t.Errorf("fields changed: %v", c)
	}
	// The dry run changed nothing.
	if r := f.explain(t, pc, "slav.reg", ""); !r.GetAllow() || r.GetPolicyVersion() != 1 {
		t.Fatalf("after dry run: %v", r)
	}

	// Activate: this replica switches at once.
	act, err := pc.ActivatePolicy(ctx, &pb.ActivatePolicyRequest{Version: v})
	if err != nil {
		t.Fatal(err)
	}
	if act.GetPreviousVersion() != 1 || !act.GetPolicy().GetActive() || len(act.GetTestResults()) != 2 {
		t.Fatalf("activate: %v", act)
	}
	if r := f.explain(t, pc, "slav.reg", ""); r.GetAllow() || r.GetPolicyVersion() != v {
		t.Fatalf("consent read under the candidate: %v", r)
	}
	if r := f.explain(t, pc, "brno.reg", ""); !r.GetAllow() || strings.Join(r.GetFields(), ",") != "name,cards" {
		t.Fatalf("home read under the candidate: %v", r)
	}

	// Roll back (to the version active before).
	rb, err := pc.RollbackPolicy(ctx, &pb.RollbackPolicyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if rb.GetPolicy().GetVersion() != 1 || rb.GetPreviousVersion() != v {
		t.Fatalf("rollback: %v", rb)
	}
	if r := f.explain(t, pc, "slav.reg", ""); !r.GetAllow() || r.GetPolicyVersion() != 1 {
		t.Fatalf("after rollback: %v", r)
	}
	// Roll forward again by version, then back to 1 by version.
	if _, err := pc.RollbackPolicy(ctx, &pb.RollbackPolicyRequest{Version: v}); err != nil {
		t.Fatal(err)
	}
	if _, err := pc.RollbackPolicy(ctx, &pb.RollbackPolicyRequest{Version: 1}); err != nil {
		t.Fatal(err)
	}

	// History: versions with author and time; activations newest first.
	list, err = pc.ListPolicies(ctx, &pb.ListPoliciesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if list.GetActiveVersion() != 1 || len(list.GetPolicies()) != 2 || list.GetPolicies()[0].GetVersion() != v ||
		list.GetPolicies()[0].GetCreateTime() == nil || list.GetPolicies()[0].GetLastActivateTime() == nil {
		t.Fatalf("versions: %v", list)
	}
	acts, err := pc.ListPolicyActivations(ctx, &pb.ListPolicyActivationsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var trail []string
	for _, a := range acts.GetActivations() {
		trail = append(trail, a.GetKind()+":"+a.GetActorUsername())
	}
	if got := strings.Join(trail, " "); got != "rollback:operator rollback:operator rollback:operator activate:operator builtin:builtin" {
		t.Fatalf("activations: %s", got)
	}
	got, err := pc.GetPolicy(ctx, &pb.GetPolicyRequest{Version: v})
	if err != nil || got.GetBundle().GetModules()["access.rego"] != candidate {
		t.Fatalf("get: %v, %v", got, err)
	}

	// The operator's explanations are in the audit log, without patron data.
	var n int
	if err := s.DB.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE action = 'policy.explain' AND actor_kind = 'operator' AND patron_id = $1 AND fields = '{}'`, f.patron).Scan(&n); err != nil || n == 0 {
		t.Fatalf("explain audit rows: %d, %v", n, err)
	}
}

func TestActivationRefused(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	f := setup(t, s)
	ctx, pc := f.op, f.pc

	up, err := pc.UploadPolicy(ctx, &pb.UploadPolicyRequest{Bundle: bundle("access.rego", candidate, "access_test.rego", candidateTests, "consent_test.rego", failingTest)})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := pc.TestPolicy(ctx, &pb.TestPolicyRequest{Version: up.GetPolicy().GetVersion()})
	if err != nil || tr.GetFailed() != 1 || tr.GetPassed() != 2 {
		t.Fatalf("tests: %v, %v", tr, err)
	}
	_, err = pc.ActivatePolicy(ctx, &pb.ActivatePolicyRequest{Version: up.GetPolicy().GetVersion()})
	st := wantCode(t, err, codes.FailedPrecondition)
	var failed []string
	for _, d := range st.Details() {
		if pf, ok := d.(*errdetails.PreconditionFailure); ok {
			for _, v := range pf.GetViolations() {
				failed = append(failed, v.GetSubject())
			}
		}
	}
	if strings.Join(failed, ",") != "data.patronfed.access_test.test_consent_reads" {
		t.Fatalf("failed tests in the status: %v (%s)", failed, st.Message())
	}

	// A bundle without tests is refused too.
	up2, err := pc.UploadPolicy(ctx, &pb.UploadPolicyRequest{Bundle: bundle("access.rego", candidate)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = pc.ActivatePolicy(ctx, &pb.ActivatePolicyRequest{Version: up2.GetPolicy().GetVersion()})
	wantCode(t, err, codes.FailedPrecondition)
	// Rolling back to a version that was never active is refused.
	_, err = pc.RollbackPolicy(ctx, &pb.RollbackPolicyRequest{Version: up2.GetPolicy().GetVersion()})
	wantCode(t, err, codes.FailedPrecondition)
	// Nothing before version 1.
	_, err = pc.RollbackPolicy(ctx, &pb.RollbackPolicyRequest{})
	wantCode(t, err, codes.FailedPrecondition)
	_, err = pc.ActivatePolicy(ctx, &pb.ActivatePolicyRequest{Version: 99})
	wantCode(t, err, codes.NotFound)

	// Still the built-in policy.
	list, err := pc.ListPolicies(ctx, &pb.ListPoliciesRequest{})
	if err != nil || list.GetActiveVersion() != 1 {
		t.Fatalf("active: %v, %v", list, err)
	}

	// PolicyService is the operator's only.
	for _, user := range []string{"brno.manager", "brno.reg"} {
		_, err := pc.ListPolicies(testserver.Ctx(s.Login(t, user)), &pb.ListPoliciesRequest{})
		wantCode(t, err, codes.PermissionDenied)
		_, err = pc.ActivatePolicy(testserver.Ctx(s.Login(t, user)), &pb.ActivatePolicyRequest{Version: 1})
		wantCode(t, err, codes.PermissionDenied)
	}
}

// TestFloorUnderPermissivePolicy activates a policy that allows everything
// with every field and shows that the floor, in Go, still holds.
func TestFloorUnderPermissivePolicy(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	f := setup(t, s)
	ctx, pc := f.op, f.pc
	up, err := pc.UploadPolicy(ctx, &pb.UploadPolicyRequest{Bundle: bundle("access.rego", permissive, "access_test.rego", permissiveTests)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.ActivatePolicy(ctx, &pb.ActivatePolicyRequest{Version: up.GetPolicy().GetVersion()}); err != nil {
		t.Fatal(err)
	}

	// Staff of another library (here without any relation to the patron)
	// are allowed by the policy, but never get identifiers.
	for _, user := range []string{"kors.reg", "slav.reg"} {
		r := f.explain(t, pc, user, policy.ActionPatronRead)
		if !r.GetAllow() || contains(r.GetFields(), "national_ids") || contains(r.GetFields(), "id_document") ||
			!contains(r.GetFields(), "name") || !hasPrefix(r.GetReasons(), "floor: id_document and national_ids") {
			t.Errorf("%s read under a permissive policy: %v", user, r)
		}
		if contains(r.GetFields(), "loan_history_everything") {
			t.Errorf("unknown field group passed the floor: %v", r.GetFields())
		}
	}
	// The home library does get them (the floor narrows, nothing more).
	if r := f.explain(t, pc, "brno.reg", policy.ActionPatronRead); !contains(r.GetFields(), "national_ids") {
		t.Errorf("home read: %v", r)
	}
	// Loan history never reaches staff, not even the home library's manager.
	for _, user := range []string{"brno.manager", "brno.circ", "slav.circ"} {
		r := f.explain(t, pc, user, policy.ActionLoanHistoryRead)
		if r.GetAllow() || len(r.GetFields()) != 0 || !hasPrefix(r.GetReasons(), "floor: loan history") {
			t.Errorf("%s loan history: %v", user, r)
		}
	}

	// Over the real PatronService: a patron registered at BRNO with an ID
	// document and a national identifier, consenting to SLAV.
	ps := pb.NewPatronServiceClient(s.Conn)
	reg, err := ps.RegisterPatron(testserver.Ctx(s.Login(t, "brno.reg")), &pb.RegisterPatronRequest{
		CardNumber: "FLOOR0001",
		Patron: &pb.PatronFields{FirstName: "Alena", LastName: "Floorová", BirthDate: "1980-04-01", PermanentAddress: "Brno 1",
			IdDocumentNumber: "OP123456", NationalIds: []*pb.NationalId{{Kind: pb.NationalIdKind_NATIONAL_ID_KIND_PERSONAL_IDENTITY_NUMBER, Value: "800401-1234"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	pid := reg.GetPatron().GetId()
	if _, err := s.DB.Exec(context.Background(), `INSERT INTO consents (patron_id, library_id, granted_at, method) VALUES ($1, $2, now(), 'in_person')`, pid, f.slav); err != nil {
		t.Fatal(err)
	}
	for _, user := range []string{"slav.reg", "kors.reg"} { // with consent, and without any relation
		got, err := ps.GetPatron(testserver.Ctx(s.Login(t, user)), &pb.GetPatronRequest{PatronId: pid})
		if err != nil {
			t.Fatalf("%s under a permissive policy: %v", user, err)
		}
		p := got.GetPatron()
		if p.GetLastName() != "Floorová" || p.GetIdDocumentNumber() != "" || len(p.GetNationalIds()) != 0 || contains(p.GetVisibleFields(), "national_ids") {
			t.Errorf("%s got %v", user, p)
		}
	}
	home, err := ps.GetPatron(testserver.Ctx(s.Login(t, "brno.reg")), &pb.GetPatronRequest{PatronId: pid})
	if err != nil || home.GetPatron().GetIdDocumentNumber() != "OP123456" || len(home.GetPatron().GetNationalIds()) != 1 {
		t.Fatalf("home registrar: %v, %v", home, err)
	}
	// Every read was audited with the deciding version.
	var versions []int64
	if err := s.DB.QueryRow(context.Background(), `SELECT array_agg(DISTINCT policy_version) FROM audit_log WHERE patron_id = $1 AND action = 'patron.read'`, pid).Scan(&versions); err != nil {
		t.Fatal(err)
	}
	if len(versions) != 1 || versions[0] != up.GetPolicy().GetVersion() {
		t.Errorf("audited policy versions %v, want [%d]", versions, up.GetPolicy().GetVersion())
	}

	// The operator is refused even though the policy allows everything.
	_, err = ps.GetPatron(ctx, &pb.GetPatronRequest{PatronId: pid})
	wantCode(t, err, codes.PermissionDenied)
	_, err = pb.NewLoanServiceClient(s.Conn).ListPatronLoans(ctx, &pb.ListPatronLoansRequest{PatronId: f.patron})
	wantCode(t, err, codes.PermissionDenied)
}

// TestTwoReplicas activates a policy through one server and watches the
// other, on the same database, switch. The second replica polls only once
// an hour, so the switch it shows comes from LISTEN/NOTIFY.
func TestTwoReplicas(t *testing.T) {
	t.Parallel()
	s1 := testserver.Start(t)
	s2 := testserver.Start(t, testserver.WithDatabase(s1.DBURL), testserver.WithConfig(func(c *config.Config) { c.PolicyPollInterval = time.Hour }))
	f := setup(t, s1)
	pc2 := pb.NewPolicyServiceClient(s2.Conn)
	if r := f.explain(t, pc2, "slav.reg", ""); !r.GetAllow() || r.GetPolicyVersion() != 1 {
		t.Fatalf("replica 2 before: %v", r)
	}
	up, err := f.pc.UploadPolicy(f.op, &pb.UploadPolicyRequest{Bundle: bundle("access.rego", candidate, "access_test.rego", candidateTests)})
	if err != nil {
		t.Fatal(err)
	}
	v := up.GetPolicy().GetVersion()

	switched := func(pc pb.PolicyServiceClient, want int64) time.Duration {
		start := time.Now()
		deadline := start.Add(10 * time.Second)
		for time.Now().Before(deadline) {
			r := f.explain(t, pc, "slav.reg", "")
			if r.GetPolicyVersion() == want {
				if (want == 1) != r.GetAllow() {
					t.Fatalf("version %d decided %v", want, r)
				}
				return time.Since(start)
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Fatalf("replica did not switch to version %d within 10 s", want)
		return 0
	}

	if _, err := f.pc.ActivatePolicy(f.op, &pb.ActivatePolicyRequest{Version: v}); err != nil {
		t.Fatal(err)
	}
	t.Logf("activation of version %d reached replica 2 after %v (LISTEN/NOTIFY)", v, switched(pc2, v))

	// Rollback through replica 2 reaches replica 1.
	if _, err := pc2.RollbackPolicy(f.op, &pb.RollbackPolicyRequest{}); err != nil {
		t.Fatal(err)
	}
	t.Logf("rollback to version 1 reached replica 1 after %v", switched(f.pc, 1))
}

// TestPollingFallback silences the notification and shows that a replica
// still switches through its periodic check.
func TestPollingFallback(t *testing.T) {
	t.Parallel()
	s1 := testserver.Start(t)
	s2 := testserver.Start(t, testserver.WithDatabase(s1.DBURL), testserver.WithConfig(func(c *config.Config) { c.PolicyPollInterval = 200 * time.Millisecond }))
	f := setup(t, s1)
	if _, err := s1.DB.Exec(context.Background(), `ALTER TABLE policy_activations DISABLE TRIGGER policy_activations_notify`); err != nil {
		t.Fatal(err)
	}
	up, err := f.pc.UploadPolicy(f.op, &pb.UploadPolicyRequest{Bundle: bundle("access.rego", candidate, "access_test.rego", candidateTests)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.pc.ActivatePolicy(f.op, &pb.ActivatePolicyRequest{Version: up.GetPolicy().GetVersion()}); err != nil {
		t.Fatal(err)
	}
	pc2 := pb.NewPolicyServiceClient(s2.Conn)
	start := time.Now()
	for time.Since(start) < 10*time.Second {
		if f.explain(t, pc2, "slav.reg", "").GetPolicyVersion() == up.GetPolicy().GetVersion() {
			t.Logf("without NOTIFY, replica 2 switched after %v (poll every 200ms)", time.Since(start))
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("replica 2 did not switch by polling")
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func hasPrefix(ss []string, p string) bool {
	for _, x := range ss {
		if strings.HasPrefix(x, p) {
			return true
		}
	}
	return false
}
