package auditing_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
	"github.com/patronfed/patronfed/testserver"
)

// TestListLoginTrails (privacy rules §1 login trail, §2.6: the operator
// sees login trails, not patron records): the operator lists the last
// login of accounts and patrons by address or network, time window and
// kind, a page at a time; a patron appears by id and home library only;
// staff may not list trails; an anonymised patron has none.
func TestListLoginTrails(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	ctx := context.Background()
	c := pb.NewAuditServiceClient(s.Conn)
	exec := func(stmt string, args ...any) {
		t.Helper()
		if _, err := s.DB.Exec(ctx, stmt, args...); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	op := testserver.Ctx(s.Login(t, "operator"))
	// A patron logs in through the catalogue: a real trail.
	s.PatronLogin(t, "B0001")
	var b1, b2, k1, brno, circ string
	if err := s.DB.QueryRow(ctx, `SELECT
		(SELECT patron_id::text FROM cards WHERE card_number = 'B0001'),
		(SELECT patron_id::text FROM cards WHERE card_number = 'B0002'),
		(SELECT patron_id::text FROM cards WHERE card_number = 'K0001'),
		(SELECT id::text FROM libraries WHERE code = 'BRNO'),
		(SELECT id::text FROM accounts WHERE username = 'brno.circ')`).Scan(&b1, &b2, &k1, &brno, &circ); err != nil {
		t.Fatal(err)
	}
	// Known trails for the others: two in 203.0.113.0/24, one elsewhere,
	// and one of a patron who is then anonymised.
	t0 := testserver.Epoch.Add(-time.Hour)
	exec(`UPDATE accounts SET last_login_at = $2, last_login_ip = '203.0.113.7' WHERE id = $1`, circ, t0)
	exec(`UPDATE patrons SET last_login_at = $2, last_login_ip = '203.0.113.9' WHERE id = $1`, b2, t0.Add(time.Minute))
	exec(`UPDATE patrons SET last_login_at = $2, last_login_ip = '2001:db8::5' WHERE id = $1`, k1, t0.Add(2*time.Minute))
	var gone string
	if err := s.DB.QueryRow(ctx, `UPDATE patrons SET last_login_at = $1, last_login_ip = '203.0.113.10', anonymised_at = $1
		WHERE id = (SELECT patron_id FROM cards WHERE card_number = 'S0001') RETURNING id::text`, t0).Scan(&gone); err != nil {
		t.Fatal(err)
	}

	list := func(req *pb.ListLoginTrailsRequest) []*pb.LoginTrail {
		t.Helper()
		resp, err := c.ListLoginTrails(op, req)
		if err != nil {
			t.Fatalf("%v: %v", req, err)
		}
		return resp.GetTrails()
	}
	ids := func(trails []*pb.LoginTrail) []string {
		var out []string
		for _, tr := range trails {
			out = append(out, tr.GetKind()+":"+tr.GetId())
		}
		return out
	}

	// A network: the account and the patron in it, newest first; not the
	// anonymised patron.
	net := list(&pb.ListLoginTrailsRequest{Address: "203.0.113.0/24"})
	if got, want := ids(net), []string{"patron:" + b2, "staff:" + circ}; !slices.Equal(got, want) {
		t.Fatalf("203.0.113.0/24: %v, want %v", got, want)
	}
	if p := net[0]; p.GetLibraryId() != brno || p.GetUsername() != "" || p.GetAddress() != "203.0.113.9" ||
		!p.GetTime().AsTime().Equal(t0.Add(time.Minute)) {
		t.Errorf("patron trail %v", p)
	}
	if a := net[1]; a.GetUsername() != "brno.circ" || a.GetLibraryId() != brno || a.GetAddress() != "203.0.113.7" {
		t.Errorf("staff trail %v", a)
	}
	// One address; IPv6.
	if got := ids(list(&pb.ListLoginTrailsRequest{Address: "203.0.113.7"})); !slices.Equal(got, []string{"staff:" + circ}) {
		t.Errorf("203.0.113.7: %v", got)
	}
	if got := ids(list(&pb.ListLoginTrailsRequest{Address: "2001:db8::/32"})); !slices.Equal(got, []string{"patron:" + k1}) {
		t.Errorf("2001:db8::/32: %v", got)
	}
	// Kind and time window.
	for _, tr := range list(&pb.ListLoginTrailsRequest{Kind: pb.LoginTrailKind_LOGIN_TRAIL_KIND_ACCOUNT}) {
		if tr.GetKind() == "patron" {
			t.Errorf("accounts only: %v", tr)
		}
	}
	patrons := ids(list(&pb.ListLoginTrailsRequest{Kind: pb.LoginTrailKind_LOGIN_TRAIL_KIND_PATRON}))
	if !slices.Contains(patrons, "patron:"+b1) || !slices.Contains(patrons, "patron:"+b2) || slices.Contains(patrons, "patron:"+gone) {
		t.Errorf("patrons only: %v", patrons)
	}
	window := list(&pb.ListLoginTrailsRequest{StartTime: timestamppb.New(t0.Add(30 * time.Second)), EndTime: timestamppb.New(t0.Add(90 * time.Second))})
	if got := ids(window); !slices.Equal(got, []string{"patron:" + b2}) {
		t.Errorf("time window: %v", got)
	}

	// Pages of one: the same trails in the same order as one page.
	all := ids(list(&pb.ListLoginTrailsRequest{PageSize: 1000}))
	if len(all) < 4 {
		t.Fatalf("all trails: %v", all)
	}
	var paged []string
	token := ""
	for range len(all) + 1 {
		resp, err := c.ListLoginTrails(op, &pb.ListLoginTrailsRequest{PageSize: 1, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		paged = append(paged, ids(resp.GetTrails())...)
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	if !slices.Equal(paged, all) {
		t.Errorf("paged %v, want %v", paged, all)
	}

	// Bad input names the field; staff may not list trails.
	_, err := c.ListLoginTrails(op, &pb.ListLoginTrailsRequest{Address: "203.0.113.300"})
	wantCode(t, err, codes.InvalidArgument)
	if !violates(err, "address") {
		t.Errorf("bad address: %v", err)
	}
	_, err = c.ListLoginTrails(op, &pb.ListLoginTrailsRequest{PageToken: "garbage"})
	wantCode(t, err, codes.InvalidArgument)
	_, err = c.ListLoginTrails(testserver.Ctx(s.Login(t, "brno.manager")), &pb.ListLoginTrailsRequest{})
	wantCode(t, err, codes.PermissionDenied)

	// Over REST, a patron's trail holds no part of the record.
	code, raw := s.HTTPRaw(t, http.MethodGet, "/v1/audit/loginTrails?address=203.0.113.0/24", s.Login(t, "operator"), nil)
	if code != http.StatusOK || !strings.Contains(string(raw), b2) {
		t.Fatalf("REST: %d %s", code, raw)
	}
	for _, personal := range []string{"Nováková", "Jana", "B0002", "firstName", "lastName", "cardNumber"} {
		if strings.Contains(string(raw), personal) {
			t.Errorf("REST trail contains %q: %s", personal, raw)
		}
	}
}

// violates reports whether err carries a field violation of field.
func violates(err error, field string) bool {
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				if v.GetField() == field {
					return true
				}
			}
		}
	}
	return false
}
