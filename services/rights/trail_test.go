package rights_test

import (
	"testing"
	"time"

	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
	"github.com/patronfed/patronfed/testserver"
)

// TestPatronLoginTrailKeepsOnlyTheLast: each catalogue login overwrites
// the patron's login trail (time and address); the extract shows it.
// (Staff accounts: services/login.)
func TestPatronLoginTrailKeepsOnlyTheLast(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	id := patronID(t, s, "B0003")
	patronLoginFrom(t, s, "B0003", "203.0.113.7")
	s.Clock.Advance(time.Hour)
	tok := patronLoginFrom(t, s, "B0003", "2001:db8::5")
	var (
		at time.Time
		ip string
	)
	if err := s.DB.QueryRow(bg, `SELECT last_login_at, host(last_login_ip) FROM patrons WHERE id = $1`, id).Scan(&at, &ip); err != nil {
		t.Fatal(err)
	}
	if !at.Equal(testserver.Epoch.Add(time.Hour)) || ip != "2001:db8::5" {
		t.Errorf("login trail %v %s, want the second login only", at, ip)
	}
	c := pb.NewPatronRightsServiceClient(s.Conn)
	r, err := c.CreateRightsRequest(testserver.Ctx(tok), &pb.CreateRightsRequestRequest{Kind: pb.RightsRequestKind_RIGHTS_REQUEST_KIND_ACCESS})
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.DeliverDataExtract(testserver.Ctx(tok), &pb.DeliverDataExtractRequest{RequestId: r.GetRequest().GetId()})
	if err != nil {
		t.Fatal(err)
	}
	trail := d.GetExtract().GetFields()["login_trail"].GetStructValue().GetFields()
	if trail["ip"].GetStringValue() != "2001:db8::5" || trail["at"].GetStringValue() != "2026-03-02T10:00:00Z" {
		t.Errorf("extract login trail %v", trail)
	}
}
