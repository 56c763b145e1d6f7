package rights_test

import (
	"context"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
	"github.com/patronfed/patronfed/testserver"
)

// violationTypes lists the PreconditionFailure violation types of err.
func violationTypes(err error) []string {
	var out []string
	for _, d := range status.Convert(err).Details() {
		if pf, ok := d.(*errdetails.PreconditionFailure); ok {
			for _, v := range pf.GetViolations() {
				out = append(out, v.GetType())
			}
		}
	}
	slices.Sort(out)
	return out
}

func erasure(t *testing.T, s *testserver.Server, ctx context.Context, patronID string) string {
	t.Helper()
	r, err := pb.NewPatronRightsServiceClient(s.Conn).CreateRightsRequest(ctx, &pb.CreateRightsRequestRequest{
		PatronId: patronID, Kind: pb.RightsRequestKind_RIGHTS_REQUEST_KIND_ERASURE})
	if err != nil {
		t.Fatal(err)
	}
	return r.GetRequest().GetId()
}

// TestErasureRefusedForEachDebt: an erasure is refused with
// FAILED_PRECONDITION, one violation per unreturned item, unpaid fee and
// suspension, for each reason on its own and all together; the refusal is
// recorded with its reasons and the patron is left as they were.
func TestErasureRefusedForEachDebt(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	brno := s.LibraryID(t, "BRNO")
	ids := map[string]string{}
	for _, card := range []string{"B0001", "B0002", "B0003", "B0004"} {
		ids[card] = patronID(t, s, card)
	}
	// B0002: an unreturned item only. B0003: an unpaid fee only. B0004: a
	// suspension only. B0001 (demo: two unreturned items and an unpaid
	// fee) is suspended too.
	exec(t, s, `INSERT INTO loans (item_id, patron_id, lending_library_id, checked_out_at, due_at)
		SELECT id, $1, $2, $3::timestamptz, $3::timestamptz + interval '28 days' FROM items WHERE barcode = 'BRNO-0004'`, ids["B0002"], brno, testserver.Epoch)
	exec(t, s, `INSERT INTO fees (patron_id, library_id, kind, amount, currency, charged_at) VALUES ($1, $2, 'damage', 2500, 'CZK', $3)`,
		ids["B0003"], brno, testserver.Epoch)
	for _, card := range []string{"B0004", "B0001"} {
		exec(t, s, `INSERT INTO patron_suspensions (patron_id, library_id, reason, created_at) VALUES ($1, $2, 'damaged items', $3)`,
			ids[card], brno, testserver.Epoch)
	}
	reg := testserver.Ctx(s.Login(t, "brno.reg"))
	c := pb.NewPatronRightsServiceClient(s.Conn)
	for _, tc := range []struct {
		card, wantMsg string
		want          []string
	}{
		{"B0002", "patron has 1 unreturned item", []string{"UNRETURNED_ITEM"}},
		{"B0003", "patron has 1 unpaid fee totalling 25.00 CZK", []string{"UNPAID_FEE"}},
		{"B0004", "patron's services are suspended", []string{"SUSPENDED"}},
		{"B0001", "patron has 2 unreturned items; patron has 1 unpaid fee", []string{"SUSPENDED", "UNPAID_FEE", "UNRETURNED_ITEM", "UNRETURNED_ITEM"}},
	} {
		id := erasure(t, s, reg, ids[tc.card])
		_, err := c.ErasePatronData(reg, &pb.ErasePatronDataRequest{RequestId: id})
		if status.Code(err) != codes.FailedPrecondition || !strings.Contains(status.Convert(err).Message(), tc.wantMsg) {
			t.Errorf("%s: %v, want FAILED_PRECONDITION saying %q", tc.card, err, tc.wantMsg)
		}
		if got := violationTypes(err); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: violations %v, want %v", tc.card, got, tc.want)
		}
		for _, personal := range []string{"Svoboda", "Nováková", "Dvořáková", "Novák", "R.U.R.", "Jirásek"} {
			if strings.Contains(status.Convert(err).String(), personal) {
				t.Errorf("%s: the refusal names %q", tc.card, personal)
			}
		}
		var st string
		var reasons []string
		s.DB.QueryRow(bg, `SELECT status, refusal_reasons FROM rights_requests WHERE id = $1`, id).Scan(&st, &reasons)
		if st != "refused" || !strings.Contains(strings.Join(reasons, "; "), tc.wantMsg) {
			t.Errorf("%s: request %s with reasons %v, want refused with the reasons", tc.card, st, reasons)
		}
		var first *string
		s.DB.QueryRow(bg, `SELECT first_name FROM patrons WHERE id = $1 AND anonymised_at IS NULL`, ids[tc.card]).Scan(&first)
		if first == nil {
			t.Errorf("%s: the patron was changed by a refused erasure", tc.card)
		}
	}
	// The same over REST: HTTP 412 for FAILED_PRECONDITION, details kept.
	tok := s.PatronLogin(t, "B0003")
	code, out := rest(t, s, "POST", "/v1/me/rights-requests", tok, map[string]any{"kind": "RIGHTS_REQUEST_KIND_ERASURE"}, nil)
	if code != 200 {
		t.Fatalf("%d %v", code, out)
	}
	code, out = rest(t, s, "POST", "/v1/me/rights-requests/"+obj(t, out, "request")["id"].(string)+":erase", tok, map[string]any{}, nil)
	if code != http.StatusPreconditionFailed || !strings.Contains(out["message"].(string), "unpaid fee") {
		t.Errorf("REST refusal: %d %v", code, out)
	}
}

// TestErasure: once settled, the patron erases themselves in the
// catalogue: anonymised in one transaction, a written confirmation
// returned and listable by the home library, the account unusable.
func TestErasure(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	id, token := giveB0001Everything(t, s)
	// Settle: return the items, pay the fee, lift the suspension.
	exec(t, s, `UPDATE loans SET returned_at = $2, return_library_id = lending_library_id WHERE patron_id = $1 AND returned_at IS NULL`, id, testserver.Epoch)
	exec(t, s, `UPDATE fees SET paid_amount = amount, settled_at = $2 WHERE patron_id = $1`, id, testserver.Epoch)
	exec(t, s, `DELETE FROM patron_suspensions WHERE patron_id = $1`, id)

	code, out := rest(t, s, "POST", "/v1/me/rights-requests", token, map[string]any{"kind": "RIGHTS_REQUEST_KIND_ERASURE"}, nil)
	if code != 200 {
		t.Fatalf("%d %v", code, out)
	}
	reqID := obj(t, out, "request")["id"].(string)
	code, out = rest(t, s, "POST", "/v1/me/rights-requests/"+reqID+":erase", token, map[string]any{}, nil)
	if code != 200 {
		t.Fatalf("erase: %d %v", code, out)
	}
	conf := obj(t, out, "confirmation")
	sum := obj(t, conf, "summary")
	for k, want := range map[string]string{"cards": "1", "identifiers": "1", "loans": "4", "fees": "2", "reservations": "2",
		"consents": "1", "consent_history": "2", "self_registrations": "1", "event_signups": "1", "notices": "1", "patron_record": "1"} {
		if sum[k] != want {
			t.Errorf("summary[%s] = %v, want %s (summary %v)", k, sum[k], want, sum)
		}
	}
	text := conf["text"].(string)
	if !strings.Contains(text, "Library BRNO has erased") || !strings.Contains(text, reqID) || !strings.Contains(text, "within the 30-day deadline") {
		t.Errorf("confirmation text:\n%s", text)
	}
	for _, personal := range []string{"Jana", "Nováková", "B0001", "205432781", "Masarykova", "Babička"} {
		if strings.Contains(text, personal) {
			t.Errorf("the confirmation names %q", personal)
		}
	}
	if obj(t, out, "request")["status"] != "RIGHTS_REQUEST_STATUS_FULFILLED" {
		t.Errorf("request %v", out["request"])
	}

	// Anonymised: nothing personal left, the link cut everywhere.
	var first, last string
	var birth, email *string
	var anonymised bool
	s.DB.QueryRow(bg, `SELECT first_name, last_name, birth_date::text, email, anonymised_at IS NOT NULL FROM patrons WHERE id = $1`, id).
		Scan(&first, &last, &birth, &email, &anonymised)
	if first != "anonymised" || last != "anonymised" || birth != nil || email != nil || !anonymised {
		t.Errorf("after erasure: %s %s %v %v anonymised=%v", first, last, birth, email, anonymised)
	}
	for _, q := range []string{`SELECT count(*) FROM cards WHERE patron_id = $1`, `SELECT count(*) FROM loans WHERE patron_id = $1`,
		`SELECT count(*) FROM fees WHERE patron_id = $1`, `SELECT count(*) FROM consent_events WHERE patron_id = $1`} {
		var n int
		s.DB.QueryRow(bg, q, id).Scan(&n)
		if n != 0 {
			t.Errorf("%s: %d", q, n)
		}
	}
	// The account is gone for service: the token no longer works.
	if code, _ := rest(t, s, "GET", "/v1/auth/whoami", token, nil, nil); code != http.StatusUnauthorized {
		t.Errorf("the erased patron's token: HTTP %d, want 401", code)
	}
	// The home library lists the confirmation; another library does not.
	c := pb.NewPatronRightsServiceClient(s.Conn)
	list, err := c.ListErasureConfirmations(testserver.Ctx(s.Login(t, "brno.reg")), &pb.ListErasureConfirmationsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.GetConfirmations()) != 1 || list.GetConfirmations()[0].GetRequestId() != reqID || list.GetConfirmations()[0].GetText() != text {
		t.Errorf("BRNO's confirmations %v", list.GetConfirmations())
	}
	other, err := c.ListErasureConfirmations(testserver.Ctx(s.Login(t, "slav.reg")), &pb.ListErasureConfirmationsRequest{})
	if err != nil || len(other.GetConfirmations()) != 0 {
		t.Errorf("SLAV's confirmations %v %v", other.GetConfirmations(), err)
	}
	// Answered once only.
	if _, err := c.ErasePatronData(testserver.Ctx(s.Login(t, "brno.reg")), &pb.ErasePatronDataRequest{RequestId: reqID}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("erasing again: %v", err)
	}
}

// TestStaffErasure: the registrar erases on the patron's behalf; the
// action is audited; circulation staff (no patron.write) cannot.
func TestStaffErasure(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	id := patronID(t, s, "B0003")
	reg := testserver.Ctx(s.Login(t, "brno.reg"))
	req := erasure(t, s, reg, id)
	c := pb.NewPatronRightsServiceClient(s.Conn)
	if _, err := c.ErasePatronData(testserver.Ctx(s.Login(t, "brno.circ")), &pb.ErasePatronDataRequest{RequestId: req}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("circulation desk erasing: %v", err)
	}
	r, err := c.ErasePatronData(reg, &pb.ErasePatronDataRequest{RequestId: req})
	if err != nil {
		t.Fatal(err)
	}
	if r.GetConfirmation().GetErasedByKind() != pb.RightsActorKind_RIGHTS_ACTOR_KIND_STAFF || r.GetConfirmation().GetErasedByAccountId() == "" {
		t.Errorf("confirmation %v", r.GetConfirmation())
	}
	var n int
	s.DB.QueryRow(bg, `SELECT count(*) FROM audit_log WHERE patron_id = $1 AND allowed AND cardinality(fields) = 0
		AND EXISTS (SELECT 1 FROM unnest(reasons) x WHERE x LIKE 'rights: erasure of the record%')`, id).Scan(&n)
	if n != 1 {
		t.Errorf("%d audit entries for the erasure, want 1", n)
	}
}
