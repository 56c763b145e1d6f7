package rights_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
	"github.com/patronfed/patronfed/testserver"
)

// TestStaffExtractSpecialCategoryNeedsItsPermission: an extract delivered
// to staff is one more read path of the record, so special-category data
// (privacy-rules §2.8) is in it only for staff holding
// patron.special_category. K0001 (KORS) is registered for accessible
// media; kors.reg has the permission, kors.manager does not. The audit
// row of each extract names the field groups actually returned.
func TestStaffExtractSpecialCategoryNeedsItsPermission(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	id := patronID(t, s, "K0001")
	c := pb.NewPatronRightsServiceClient(s.Conn)
	for _, tc := range []struct {
		user    string
		special bool
	}{{"kors.manager", false}, {"kors.reg", true}} {
		ctx := testserver.Ctx(s.Login(t, tc.user))
		r, err := c.CreateRightsRequest(ctx, &pb.CreateRightsRequestRequest{PatronId: id, Kind: pb.RightsRequestKind_RIGHTS_REQUEST_KIND_ACCESS})
		if err != nil {
			t.Fatalf("%s: %v", tc.user, err)
		}
		d, err := c.DeliverDataExtract(ctx, &pb.DeliverDataExtractRequest{RequestId: r.GetRequest().GetId()})
		if err != nil {
			t.Fatalf("%s: %v", tc.user, err)
		}
		raw, _ := d.GetExtract().MarshalJSON()
		var x map[string]any
		if err := json.Unmarshal(raw, &x); err != nil {
			t.Fatal(err)
		}
		identity := obj(t, x, "identity")
		if identity["last_name"] != "Lindqvist" {
			t.Fatalf("%s: extract without the record: %v", tc.user, identity)
		}
		_, has := identity["special_categories"]
		if has != tc.special || strings.Contains(string(raw), "accessible_media") != tc.special {
			t.Errorf("%s: special categories in the extract = %v, want %v: %s", tc.user, has, tc.special, identity)
		}
		withheld := strings.Join(toStrings(x["withheld"]), "\n")
		if strings.Contains(withheld, "special_category") == tc.special {
			t.Errorf("%s: withheld %q, special_category should be withheld: %v", tc.user, withheld, !tc.special)
		}
		var fields []string
		if err := s.DB.QueryRow(bg, `SELECT a.fields FROM audit_log a JOIN accounts c ON c.id = a.actor_id
			WHERE c.username = $1 AND a.patron_id = $2 AND a.action = 'patron.read' AND a.allowed
			  AND EXISTS (SELECT 1 FROM unnest(a.reasons) r WHERE r LIKE 'rights: data extract%')`, tc.user, id).Scan(&fields); err != nil {
			t.Fatalf("%s: audit: %v", tc.user, err)
		}
		if slices.Contains(fields, "special_category") != tc.special {
			t.Errorf("%s: audited fields %v", tc.user, fields)
		}
	}
}

// TestErasureDeadline (privacy-rules §4.2: the library must erase within
// 30 days): an erasure request made in the catalogue is due 30 days
// later, is not overdue the minute before and is listed as overdue to the
// home library the minute after, until it is answered.
func TestErasureDeadline(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	c := pb.NewPatronRightsServiceClient(s.Conn)
	r, err := c.CreateRightsRequest(testserver.Ctx(s.PatronLogin(t, "B0003")), &pb.CreateRightsRequestRequest{Kind: pb.RightsRequestKind_RIGHTS_REQUEST_KIND_ERASURE})
	if err != nil {
		t.Fatal(err)
	}
	due := testserver.Epoch.Add(30 * 24 * time.Hour)
	if got := r.GetRequest().GetDueTime().AsTime(); !got.Equal(due) {
		t.Fatalf("erasure due %v, want %v (30 days)", got, due)
	}
	overdue := func() []*pb.RightsRequest {
		t.Helper()
		l, err := c.ListRightsRequests(testserver.Ctx(s.Login(t, "brno.reg")), &pb.ListRightsRequestsRequest{OverdueOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		return l.GetRequests()
	}
	s.Clock.Set(due.Add(-time.Minute))
	if o := overdue(); len(o) != 0 {
		t.Errorf("overdue before the deadline: %v", o)
	}
	s.Clock.Set(due.Add(time.Minute))
	if o := overdue(); len(o) != 1 || o[0].GetId() != r.GetRequest().GetId() || !o[0].GetOverdue() {
		t.Errorf("overdue after the deadline: %v", o)
	}
	if _, err := c.ErasePatronData(testserver.Ctx(s.Login(t, "brno.reg")), &pb.ErasePatronDataRequest{RequestId: r.GetRequest().GetId()}); err != nil {
		t.Fatal(err)
	}
	if o := overdue(); len(o) != 0 {
		t.Errorf("overdue after the erasure: %v", o)
	}
}
