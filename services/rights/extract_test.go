package rights_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
	"github.com/patronfed/patronfed/testserver"
)

// giveB0001Everything adds to the demo patron B0001 (who has loans, history,
// fees with a payment, optional data and an ID document) every other kind
// of data privacy-rules §1 lists: a share consent given in the catalogue,
// a reservation and a finished one, a reminder with claims, a suspension,
// a completed self-registration, an event sign-up, a staff read (audit
// log) and a login trail.
func giveB0001Everything(t *testing.T, s *testserver.Server) (id, token string) {
	t.Helper()
	id = patronID(t, s, "B0001")
	token = patronLoginFrom(t, s, "B0001", "203.0.113.7")
	kors, brno := s.LibraryID(t, "KORS"), s.LibraryID(t, "BRNO")
	if _, err := pb.NewConsentServiceClient(s.Conn).GrantConsent(testserver.Ctx(token), &pb.GrantConsentRequest{
		Scope: pb.ConsentScope_CONSENT_SCOPE_SHARE_WITH_LIBRARY, LibraryId: kors}); err != nil {
		t.Fatal(err)
	}
	now := testserver.Epoch
	// On KORS's hold shelf since an hour after it was placed; the patron
	// was told two hours after that.
	exec(t, s, `INSERT INTO reservations (item_id, patron_id, pickup_library_id, placed_at, expires_at, ready_at, notified_at)
		SELECT i.id, $1, $2, $3::timestamptz, $3::timestamptz + interval '7 days', $3::timestamptz + interval '1 hour',
		$3::timestamptz + interval '3 hours'
		FROM items i WHERE i.barcode = 'KORS-0001'`, id, kors, now)
	exec(t, s, `INSERT INTO reservations (item_id, patron_id, pickup_library_id, status, placed_at, expires_at, finished_at)
		SELECT i.id, $1, $2, 'cancelled', $3::timestamptz - interval '30 days', $3::timestamptz - interval '23 days', $3::timestamptz - interval '25 days'
		FROM items i WHERE i.barcode = 'BRNO-0002'`, id, brno, now)
	exec(t, s, `WITH n AS (INSERT INTO notices (patron_id, library_id, kind, created_at) VALUES ($1, $2, 'reminder', $3) RETURNING id)
		INSERT INTO notice_claims (notice_id, kind, fee_id, amount, currency)
		SELECT n.id, 'fee', f.id, f.amount, f.currency FROM n, fees f WHERE f.patron_id = $1 AND f.settled_at IS NULL`, id, brno, now)
	exec(t, s, `INSERT INTO patron_suspensions (patron_id, library_id, reason, suspended_until, created_at)
		VALUES ($1, $2, 'overdue items', $3::timestamptz + interval '10 days', $3)`, id, brno, now)
	exec(t, s, `INSERT INTO self_registrations (library_id, status, requested_at, completed_at, patron_id)
		VALUES ($1, 'completed', $2::timestamptz - interval '200 days', $2::timestamptz - interval '198 days', $3)`, brno, now, id)
	exec(t, s, `INSERT INTO event_signups (library_id, event_name, event_date, patron_id, created_at) VALUES ($1, 'Reading night', '2026-03-20', $2, $3)`,
		brno, id, now)
	if _, err := pb.NewPatronServiceClient(s.Conn).GetPatron(testserver.Ctx(s.Login(t, "brno.reg")), &pb.GetPatronRequest{PatronId: id}); err != nil {
		t.Fatal(err)
	}
	// The last login wins: the trail says 198.51.100.9.
	s.Clock.Advance(time.Minute)
	token = patronLoginFrom(t, s, "B0001", "198.51.100.9")
	return id, token
}

// TestPatronExtractCoversEveryKind: the patron asks in the catalogue and
// gets every kind of data of §1 they have, in one JSON document; the
// request is then fulfilled.
func TestPatronExtractCoversEveryKind(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	id, token := giveB0001Everything(t, s)

	code, out := rest(t, s, "POST", "/v1/me/rights-requests", token, map[string]any{"kind": "RIGHTS_REQUEST_KIND_ACCESS"}, nil)
	if code != 200 {
		t.Fatalf("create request: %d %v", code, out)
	}
	req := obj(t, out, "request")
	due, _ := time.Parse(time.RFC3339, req["dueTime"].(string))
	if req["status"] != "RIGHTS_REQUEST_STATUS_PENDING" || !due.Equal(s.Clock.Now().Add(30*24*time.Hour)) {
		t.Fatalf("request %v, want pending and due in 30 days", req)
	}
	code, out = rest(t, s, "POST", "/v1/me/rights-requests/"+req["id"].(string)+":deliverExtract", token, map[string]any{}, nil)
	if code != 200 {
		t.Fatalf("deliver: %d %v", code, out)
	}
	if st := obj(t, out, "request")["status"]; st != "RIGHTS_REQUEST_STATUS_FULFILLED" {
		t.Errorf("request after delivery: %v", st)
	}
	x := obj(t, out, "extract")
	if x["format"] != "patronfed.extract/v1" || x["patron_id"] != id {
		t.Errorf("format %v, patron %v", x["format"], x["patron_id"])
	}
	identity := obj(t, x, "identity")
	for k, want := range map[string]any{
		"first_name": "Jana", "last_name": "Nováková", "birth_date": "1985-04-12", "permanent_address": "Masarykova 12, 602 00 Brno",
		"email": "jana.novakova@example.cz", "phone": "+420 601 123 456", "mother_tongue": "cs", "category": "adult", "has_pin": true,
	} {
		if identity[k] != want {
			t.Errorf("identity.%s = %v, want %v", k, identity[k], want)
		}
	}
	if obj(t, identity, "home_library")["code"] != "BRNO" {
		t.Errorf("home library %v", identity["home_library"])
	}
	if obj(t, x, "identifiers")["id_document"] != "205432781" {
		t.Errorf("identifiers %v, want the ID document decrypted", x["identifiers"])
	}
	if c := list(t, x, "cards"); len(c) != 1 || c[0]["number"] != "B0001" {
		t.Errorf("cards %v", c)
	}
	consents := obj(t, x, "consents")
	if consents["optional_data"] != true || len(list(t, consents, "shared_with")) != 1 {
		t.Errorf("consents %v", consents)
	}
	if h := list(t, x, "consent_history"); len(h) != 2 {
		t.Errorf("consent history %v, want the optional-data consent and the share consent", h)
	}
	if l := list(t, x, "active_loans"); len(l) != 2 {
		t.Errorf("active loans %v, want 2", l)
	}
	if r := list(t, x, "reservations"); len(r) != 1 || r[0]["item_barcode"] != "KORS-0001" ||
		r[0]["ready_at"] != testserver.Epoch.Add(time.Hour).Format(time.RFC3339Nano) ||
		r[0]["notified_at"] != testserver.Epoch.Add(3*time.Hour).Format(time.RFC3339Nano) {
		t.Errorf("reservations %v", r)
	}
	if h := list(t, x, "history"); len(h) != 3 || x["history_count"] != float64(3) {
		t.Errorf("history %v (count %v), want 2 loans and 1 reservation", h, x["history_count"])
	}
	fees := list(t, x, "fees")
	paid := 0
	for _, f := range fees {
		paid += len(list(t, f, "payments"))
	}
	if len(fees) != 2 || paid != 1 {
		t.Errorf("fees %v, want 2 with 1 payment", fees)
	}
	if n := list(t, x, "notices"); len(n) != 1 || len(list(t, n[0], "claims")) != 1 {
		t.Errorf("notices %v", n)
	}
	if sp := obj(t, x, "suspension"); sp["reason"] != "overdue items" {
		t.Errorf("suspension %v", sp)
	}
	if r := list(t, x, "self_registrations"); len(r) != 1 || r[0]["status"] != "completed" {
		t.Errorf("self-registrations %v", r)
	}
	if e := list(t, x, "event_signups"); len(e) != 1 || e[0]["event_name"] != "Reading night" {
		t.Errorf("event sign-ups %v", e)
	}
	if tr := obj(t, x, "login_trail"); tr["ip"] != "198.51.100.9" || tr["at"] != s.Clock.Now().Format(time.RFC3339) {
		t.Errorf("login trail %v, want only the last login", tr)
	}
	if r := list(t, x, "rights_requests"); len(r) != 1 || r[0]["kind"] != "access" {
		t.Errorf("rights requests %v", r)
	}
	var staffRead bool
	for _, a := range list(t, x, "access_log") {
		if a["library_code"] == "BRNO" && a["action"] == "patron.read" && strings.Contains(strings.Join(toStrings(a["roles"]), ","), "registrar") {
			staffRead = true
		}
		if _, named := a["actor_id"]; named {
			t.Errorf("access log names the staff member: %v", a)
		}
	}
	if !staffRead {
		t.Errorf("access log %v lacks the registrar's read at BRNO", x["access_log"])
	}
	if w := x["withheld"].([]any); len(w) != 0 {
		t.Errorf("withheld from the patron: %v", w)
	}

	// A patron cannot reach another patron's request.
	other := s.PatronLogin(t, "B0002")
	_, err := pb.NewPatronRightsServiceClient(s.Conn).DeliverDataExtract(testserver.Ctx(other),
		&pb.DeliverDataExtractRequest{RequestId: req["id"].(string)})
	if status.Code(err) != codes.NotFound {
		t.Errorf("another patron delivering the extract: %v, want NotFound", err)
	}
	// No personal data in the logs.
	if strings.Contains(s.Logs.String(), "Nováková") || strings.Contains(s.Logs.String(), "205432781") {
		t.Error("personal data in the server log")
	}
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

// TestStaffExtract: home-library staff ask on the patron's behalf and get
// what the policy lets them read, audited; the history's content stays the
// patron's; staff of another library cannot ask.
func TestStaffExtract(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	id, _ := giveB0001Everything(t, s)
	reg := testserver.Ctx(s.Login(t, "brno.reg"))
	c := pb.NewPatronRightsServiceClient(s.Conn)
	r, err := c.CreateRightsRequest(reg, &pb.CreateRightsRequestRequest{PatronId: id, Kind: pb.RightsRequestKind_RIGHTS_REQUEST_KIND_ACCESS})
	if err != nil {
		t.Fatal(err)
	}
	if r.GetRequest().GetRequestedByKind() != pb.RightsActorKind_RIGHTS_ACTOR_KIND_STAFF {
		t.Errorf("requested by %v", r.GetRequest().GetRequestedByKind())
	}
	var auditBefore int
	s.DB.QueryRow(bg, `SELECT count(*) FROM audit_log WHERE patron_id = $1`, id).Scan(&auditBefore)
	d, err := c.DeliverDataExtract(reg, &pb.DeliverDataExtractRequest{RequestId: r.GetRequest().GetId()})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := d.GetExtract().MarshalJSON()
	var x map[string]any
	if err := json.Unmarshal(raw, &x); err != nil {
		t.Fatal(err)
	}
	if obj(t, x, "identity")["last_name"] != "Nováková" || obj(t, x, "identifiers")["id_document"] != "205432781" {
		t.Errorf("the registrar's extract lacks what the policy returns to them: %v %v", x["identity"], x["identifiers"])
	}
	if len(list(t, x, "history")) != 0 || x["history_count"] != float64(3) {
		t.Errorf("staff got history %v (count %v), want none and the count 3", x["history"], x["history_count"])
	}
	if x["login_trail"] != nil || len(list(t, x, "access_log")) != 0 {
		t.Errorf("staff got the login trail or access log")
	}
	if len(list(t, x, "active_loans")) != 2 || len(list(t, x, "fees")) != 2 {
		t.Errorf("registrar (patron.read) should see active loans and fees")
	}
	if w := strings.Join(toStrings(x["withheld"]), "\n"); !strings.Contains(w, "history") || !strings.Contains(w, "special_category") {
		t.Errorf("withheld: %s", w)
	}
	var audited int
	s.DB.QueryRow(bg, `SELECT count(*) FROM audit_log WHERE patron_id = $1 AND allowed AND action IN ('patron.read', 'loan.read', 'fee.read')
		AND EXISTS (SELECT 1 FROM unnest(reasons) r WHERE r LIKE 'rights: data extract%')`, id).Scan(&audited)
	if audited != 3 {
		t.Errorf("%d audit entries for the staff extract, want 3 (record, loans, fees)", audited)
	}
	// Another library: cannot ask, cannot deliver.
	slav := testserver.Ctx(s.Login(t, "slav.reg"))
	if _, err := c.CreateRightsRequest(slav, &pb.CreateRightsRequestRequest{PatronId: id, Kind: pb.RightsRequestKind_RIGHTS_REQUEST_KIND_ACCESS}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("SLAV asking for a BRNO patron: %v", err)
	}
	if _, err := c.DeliverDataExtract(slav, &pb.DeliverDataExtractRequest{RequestId: r.GetRequest().GetId()}); status.Code(err) != codes.NotFound {
		t.Errorf("SLAV delivering BRNO's request: %v", err)
	}
	// Staff without patron.write cannot record an erasure request.
	circ := testserver.Ctx(s.Login(t, "brno.circ"))
	if _, err := c.CreateRightsRequest(circ, &pb.CreateRightsRequestRequest{PatronId: id, Kind: pb.RightsRequestKind_RIGHTS_REQUEST_KIND_ERASURE}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("circulation desk recording an erasure: %v", err)
	}
}

// TestDeadlines: staff list their library's requests by deadline and see
// the overdue ones.
func TestDeadlines(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	reg := testserver.Ctx(s.Login(t, "brno.reg"))
	c := pb.NewPatronRightsServiceClient(s.Conn)
	first, err := c.CreateRightsRequest(reg, &pb.CreateRightsRequestRequest{PatronId: patronID(t, s, "B0003"), Kind: pb.RightsRequestKind_RIGHTS_REQUEST_KIND_ACCESS})
	if err != nil {
		t.Fatal(err)
	}
	s.Clock.Advance(20 * 24 * time.Hour)
	if _, err := c.CreateRightsRequest(testserver.Ctx(s.PatronLogin(t, "B0002")), &pb.CreateRightsRequestRequest{Kind: pb.RightsRequestKind_RIGHTS_REQUEST_KIND_ERASURE}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateRightsRequest(testserver.Ctx(s.PatronLogin(t, "S0001")), &pb.CreateRightsRequestRequest{Kind: pb.RightsRequestKind_RIGHTS_REQUEST_KIND_ACCESS}); err != nil {
		t.Fatal(err)
	}
	s.Clock.Advance(11 * 24 * time.Hour)
	reg = testserver.Ctx(s.Login(t, "brno.reg"))
	all, err := c.ListRightsRequests(reg, &pb.ListRightsRequestsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all.GetRequests()) != 2 || all.GetRequests()[0].GetId() != first.GetRequest().GetId() {
		t.Fatalf("BRNO's requests %v, want 2 (not SLAV's), earliest deadline first", all.GetRequests())
	}
	over, err := c.ListRightsRequests(reg, &pb.ListRightsRequestsRequest{OverdueOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(over.GetRequests()) != 1 || !over.GetRequests()[0].GetOverdue() || over.GetRequests()[0].GetId() != first.GetRequest().GetId() {
		t.Errorf("overdue %v, want the first request only", over.GetRequests())
	}
	if _, err := c.DeliverDataExtract(reg, &pb.DeliverDataExtractRequest{RequestId: first.GetRequest().GetId()}); err != nil {
		t.Fatal(err)
	}
	pending, err := c.ListRightsRequests(reg, &pb.ListRightsRequestsRequest{PendingOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(pending.GetRequests()) != 1 || pending.GetRequests()[0].GetKind() != pb.RightsRequestKind_RIGHTS_REQUEST_KIND_ERASURE {
		t.Errorf("pending after delivery %v, want the erasure only", pending.GetRequests())
	}
}
