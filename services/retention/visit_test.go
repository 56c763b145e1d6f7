package retention_test

import (
	"testing"
	"time"

	"github.com/google/uuid"

	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
	"github.com/patronfed/patronfed/retention"
	"github.com/patronfed/patronfed/testserver"
)

// TestLastVisitRestartsTheClock (privacy-rules §3: a patron account is
// archived 18 months and anonymised 2 years after the LAST VISIT): the demo
// patrons registered on 2025-09-01. At the test epoch (2026-03-02) B0003
// borrows and returns an item at the desk and S0001 signs in to the
// catalogue; B0002 does nothing. 18 months after registration only B0002
// is archived; 18 months after the visits the other two are, and 24
// months after them they are anonymised.
func TestLastVisitRestartsTheClock(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	ids := map[string]string{}
	for _, card := range []string{"B0002", "B0003", "S0001"} {
		ids[card] = patronID(t, s, card)
	}
	loans := pb.NewLoanServiceClient(s.Conn)
	desk := testserver.Ctx(s.Login(t, "brno.circ"))
	if _, err := loans.CheckOut(desk, &pb.CheckOutRequest{RequestId: uuid.NewString(), CardNumber: "B0003", ItemBarcode: "BRNO-0004"}); err != nil {
		t.Fatal(err)
	}
	if _, err := loans.CheckIn(desk, &pb.CheckInRequest{RequestId: uuid.NewString(), ItemBarcode: "BRNO-0004"}); err != nil {
		t.Fatal(err)
	}
	if err := patronLogin(s, "S0001"); err != nil {
		t.Fatal(err)
	}
	eng := retention.New(s.App.Pool, s.Clock, nil)
	state := func(card string) string {
		t.Helper()
		var st string
		if err := s.DB.QueryRow(bg, `SELECT CASE WHEN anonymised_at IS NOT NULL THEN 'anonymised'
			WHEN archived_at IS NOT NULL THEN 'archived' ELSE 'active' END FROM patrons WHERE id = $1`, ids[card]).Scan(&st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	for _, step := range []struct {
		at   time.Time
		want map[string]string
	}{
		{time.Date(2027, 3, 10, 0, 0, 0, 0, time.UTC), map[string]string{"B0002": "archived", "B0003": "active", "S0001": "active"}},
		{testserver.Epoch.AddDate(0, 18, 0).Add(-time.Hour), map[string]string{"B0003": "active", "S0001": "active"}},
		{testserver.Epoch.AddDate(0, 18, 0).Add(time.Hour), map[string]string{"B0003": "archived", "S0001": "archived"}},
		{testserver.Epoch.AddDate(0, 24, 0).Add(-time.Hour), map[string]string{"B0003": "archived", "S0001": "archived"}},
		{testserver.Epoch.AddDate(0, 24, 0).Add(time.Hour), map[string]string{"B0003": "anonymised", "S0001": "anonymised"}},
	} {
		s.Clock.Set(step.at)
		if _, err := eng.Run(bg, retention.Options{}); err != nil {
			t.Fatal(err)
		}
		for card, want := range step.want {
			if got := state(card); got != want {
				t.Errorf("%s at %s: %s, want %s", card, step.at.Format(time.DateTime), got, want)
			}
		}
	}
}
