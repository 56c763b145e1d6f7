package retention_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/patronfed/patronfed/config"
	"github.com/patronfed/patronfed/demo"
	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
	"github.com/patronfed/patronfed/pgtest"
	"github.com/patronfed/patronfed/testserver"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var bg = context.Background()

func patronID(t *testing.T, s *testserver.Server, card string) string {
	t.Helper()
	var id string
	if err := s.DB.QueryRow(bg, `SELECT patron_id::text FROM cards WHERE card_number = $1`, card).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

func patronLogin(s *testserver.Server, card string) error {
	_, err := pb.NewAuthServiceClient(s.Conn).PatronLogin(bg, &pb.PatronLoginRequest{CardNumber: card, Pin: demo.PIN})
	return err
}

// TestScheduledArchiveAndRestore: the server's own schedule archives an
// idle account (its clock 18 months on); the archived patron can neither
// sign in nor use a token issued before; staff of other libraries no
// longer find them; the home library restores them and they are back.
func TestScheduledArchiveAndRestore(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t, testserver.WithConfig(func(c *config.Config) { c.RetentionInterval = 20 * time.Millisecond }))
	id := patronID(t, s, "S0001") // SLAV, consented to share with BRNO; no debts
	tok := s.PatronLogin(t, "S0001")
	brno := testserver.Ctx(s.Login(t, "brno.reg"))
	patrons := pb.NewPatronServiceClient(s.Conn)
	if _, err := patrons.GetPatron(brno, &pb.GetPatronRequest{PatronId: id}); err != nil {
		t.Fatalf("BRNO reads S0001 before the archive: %v", err)
	}

	s.Clock.Set(testserver.Epoch.AddDate(0, 18, 1))
	deadline := time.Now().Add(10 * time.Second)
	for {
		var archived bool
		s.DB.QueryRow(bg, `SELECT archived_at IS NOT NULL FROM patrons WHERE id = $1`, id).Scan(&archived)
		if archived {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the scheduled retention run did not archive the idle patron")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := patronLogin(s, "S0001"); status.Code(err) != codes.Unauthenticated {
		t.Errorf("archived patron signs in: %v", err)
	}
	_, err := pb.NewAuthServiceClient(s.Conn).WhoAmI(testserver.Ctx(tok), &pb.WhoAmIRequest{})
	if status.Code(err) != codes.Unauthenticated {
		t.Errorf("archived patron's old token: %v", err)
	}
	brno = testserver.Ctx(s.Login(t, "brno.reg"))
	if _, err := patrons.GetPatron(brno, &pb.GetPatronRequest{PatronId: id}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("another library reads an archived patron: %v", err)
	}

	svc := pb.NewRetentionServiceClient(s.Conn)
	if _, err := svc.RestorePatron(brno, &pb.RestorePatronRequest{PatronId: id}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("another library restores: %v", err)
	}
	if _, err := svc.RestorePatron(testserver.Ctx(s.Login(t, "slav.circ")), &pb.RestorePatronRequest{PatronId: id}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("circulation desk (no patron.write) restores: %v", err)
	}
	r, err := svc.RestorePatron(testserver.Ctx(s.Login(t, "slav.reg")), &pb.RestorePatronRequest{PatronId: id})
	if err != nil {
		t.Fatal(err)
	}
	if !r.GetRestoreTime().AsTime().Equal(s.Clock.Now()) {
		t.Errorf("restore time %v", r.GetRestoreTime().AsTime())
	}
	// Back in service, and the restore counts as a visit: the next
	// scheduled runs leave the account alone.
	time.Sleep(100 * time.Millisecond)
	if err := patronLogin(s, "S0001"); err != nil {
		t.Errorf("restored patron signs in: %v", err)
	}
	if _, err := patrons.GetPatron(testserver.Ctx(s.Login(t, "brno.reg")), &pb.GetPatronRequest{PatronId: id}); err != nil {
		t.Errorf("BRNO reads the restored patron: %v", err)
	}
	var entries int
	s.DB.QueryRow(bg, `SELECT count(*) FROM audit_log WHERE patron_id = $1 AND EXISTS (SELECT 1 FROM unnest(reasons) x WHERE x LIKE 'retention: restore%')`, id).Scan(&entries)
	if entries != 2 {
		t.Errorf("%d audited restore attempts, want 2 (BRNO denied, SLAV allowed)", entries)
	}
}

// TestRestoreAnonymised: an anonymised account cannot be restored.
func TestRestoreAnonymised(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	id := patronID(t, s, "B0003")
	if _, err := s.DB.Exec(bg, `UPDATE patrons SET archived_at = $2, anonymised_at = $2 WHERE id = $1`, id, testserver.Epoch); err != nil {
		t.Fatal(err)
	}
	_, err := pb.NewRetentionServiceClient(s.Conn).RestorePatron(testserver.Ctx(s.Login(t, "brno.reg")), &pb.RestorePatronRequest{PatronId: id})
	if status.Code(err) != codes.FailedPrecondition {
		t.Errorf("restoring an anonymised account: %v", err)
	}
	_, err = pb.NewRetentionServiceClient(s.Conn).RestorePatron(testserver.Ctx(s.Login(t, "brno.reg")),
		&pb.RestorePatronRequest{PatronId: "7b0e8a52-5f8e-4c1f-9a34-000000000000"})
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("restoring a patron who does not exist: %v, want the same denial as for another library's", err)
	}
}
