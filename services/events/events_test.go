package events_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/patronfed/patronfed/circulation/circtest"
	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
	"github.com/patronfed/patronfed/pgtest"
	"github.com/patronfed/patronfed/retention"
	"github.com/patronfed/patronfed/testserver"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// Staff keep their library's sign-up sheets: record (once per request id),
// list, delete; other libraries and other roles see nothing; retention
// deletes a sheet the library's period after its event.
func TestEventSignups(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	s.Clock.Set(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC))
	c := pb.NewEventSignupServiceClient(s.Conn)
	slav := testserver.Ctx(s.Login(t, "slav.reg"))

	// Over REST, then the same request again.
	tok := s.Login(t, "slav.reg")
	req := map[string]any{"requestId": circtest.ReqID(), "eventName": "Reading night", "eventDate": "2026-03-10",
		"name": "Eva Nová", "contact": "eva@example.org"}
	code, body := s.HTTP(t, "POST", "/v1/event-signups", tok, req)
	if code != 200 {
		t.Fatalf("record: %d %v", code, body)
	}
	first := body["signup"].(map[string]any)
	if first["expireTime"] != "2026-06-10T00:00:00Z" {
		t.Errorf("expire time %v, want 3 months after the event", first["expireTime"])
	}
	if code, again := s.HTTP(t, "POST", "/v1/event-signups", tok, req); code != 200 || again["signup"].(map[string]any)["id"] != first["id"] {
		t.Errorf("retry: %d %v, want the first sign-up", code, again)
	}
	if _, err := c.RecordEventSignup(slav, &pb.RecordEventSignupRequest{RequestId: circtest.ReqID(), EventName: "Story hour",
		EventDate: "2026-04-02", Name: "Petr Malý", Contact: "+420 111 222 333"}); err != nil {
		t.Fatal(err)
	}
	list, err := c.ListEventSignups(slav, &pb.ListEventSignupsRequest{})
	if err != nil || len(list.GetSignups()) != 2 || list.GetSignups()[0].GetName() != "Eva Nová" {
		t.Fatalf("list: %v, %v", list, err)
	}
	if one, err := c.ListEventSignups(slav, &pb.ListEventSignupsRequest{EventDate: "2026-04-02"}); err != nil || len(one.GetSignups()) != 1 {
		t.Errorf("list by date: %v, %v", one, err)
	}

	// Bad input is refused and stores nothing.
	_, err = c.RecordEventSignup(slav, &pb.RecordEventSignupRequest{RequestId: circtest.ReqID(), EventName: "X", EventDate: "2026-02-30", Name: "A", Contact: "a@b.c"})
	circtest.Code(t, err, codes.InvalidArgument)
	_, err = c.RecordEventSignup(slav, &pb.RecordEventSignupRequest{RequestId: circtest.ReqID(), EventName: "", EventDate: "2026-03-10", Name: "A", Contact: "a@b.c"})
	circtest.Code(t, err, codes.InvalidArgument)

	// Another library sees none of them and cannot delete them; a
	// circulation desk has no access to sheets.
	brno := testserver.Ctx(s.Login(t, "brno.reg"))
	if other, err := c.ListEventSignups(brno, &pb.ListEventSignupsRequest{}); err != nil || len(other.GetSignups()) != 0 {
		t.Errorf("another library's list: %v, %v", other, err)
	}
	_, err = c.DeleteEventSignup(brno, &pb.DeleteEventSignupRequest{SignupId: list.GetSignups()[0].GetId()})
	circtest.Code(t, err, codes.NotFound)
	_, err = c.ListEventSignups(testserver.Ctx(s.Login(t, "slav.circ")), &pb.ListEventSignupsRequest{})
	circtest.Code(t, err, codes.PermissionDenied)

	// The person withdraws.
	if _, err := c.DeleteEventSignup(slav, &pb.DeleteEventSignupRequest{SignupId: list.GetSignups()[1].GetId()}); err != nil {
		t.Fatal(err)
	}

	// Retention: the sheet of the 10 March event is deleted after 10 June.
	count := func() (n int) {
		t.Helper()
		if err := s.DB.QueryRow(context.Background(), `SELECT count(*) FROM event_signups`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	run := func(at time.Time) {
		t.Helper()
		s.Clock.Set(at)
		if _, err := retention.New(s.DB, s.Clock, nil).Run(context.Background(), retention.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	run(time.Date(2026, 6, 9, 12, 0, 0, 0, time.UTC))
	if n := count(); n != 1 {
		t.Errorf("sign-ups before the period ran out: %d, want 1", n)
	}
	run(time.Date(2026, 6, 10, 12, 0, 0, 0, time.UTC))
	if n := count(); n != 0 {
		t.Errorf("sign-ups after the period ran out: %d, want 0", n)
	}
}
