package settings_test

import (
	"context"
	"net/http"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
	"github.com/patronfed/patronfed/pgtest"
	"github.com/patronfed/patronfed/testserver"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func wantCode(t *testing.T, err error, code codes.Code) *status.Status {
	t.Helper()
	st, _ := status.FromError(err)
	if st.Code() != code {
		t.Fatalf("got %v, want %v", err, code)
	}
	return st
}

func violationFields(st *status.Status) []string {
	var out []string
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				out = append(out, v.GetField())
			}
		}
	}
	return out
}

func TestDefaultsUpdateAndHistory(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	c := pb.NewSettingsServiceClient(s.Conn)
	brno := s.LibraryID(t, "BRNO")
	op := testserver.Ctx(s.Login(t, "operator"))
	mgr := testserver.Ctx(s.Login(t, "brno.manager"))

	got, err := c.GetLibrarySettings(op, &pb.GetLibrarySettingsRequest{LibraryId: brno})
	if err != nil {
		t.Fatal(err)
	}
	st := got.GetSettings()
	// Privacy rules §1 and §3 defaults.
	if st.GetMinorAge() != 15 || st.GetHistoryRetentionMonths() != 12 || st.GetArchiveAfterMonths() != 18 ||
		st.GetAnonymiseAfterMonths() != 24 || st.GetSelfRegistrationRetentionDays() != 30 ||
		st.GetAuditRetentionMonths() != 2 || st.GetEventSignupRetentionMonths() != 3 || !st.GetCollectEmail() || st.GetReservationDays() != 14 ||
		st.GetPickupDays() != 7 {
		t.Fatalf("defaults: %v", st)
	}

	up, err := c.UpdateLibrarySettings(mgr, &pb.UpdateLibrarySettingsRequest{
		LibraryId: brno, MinorAge: proto.Int32(18), CollectPhone: proto.Bool(false), LoanPeriodDays: proto.Int32(st.GetLoanPeriodDays()),
	})
	if err != nil {
		t.Fatal(err)
	}
	if up.GetSettings().GetMinorAge() != 18 || up.GetSettings().GetCollectPhone() {
		t.Fatalf("after update: %v", up.GetSettings())
	}
	// loan_period_days was set to its current value: not a change.
	if want := []string{"minor_age", "collect_phone"}; !equal(up.GetChangedFields(), want) {
		t.Fatalf("changed fields %v, want %v", up.GetChangedFields(), want)
	}

	// The same request again changes nothing and records nothing.
	again, err := c.UpdateLibrarySettings(mgr, &pb.UpdateLibrarySettingsRequest{LibraryId: brno, MinorAge: proto.Int32(18)})
	if err != nil || len(again.GetChangedFields()) != 0 {
		t.Fatalf("no-op update: %v, %v", again, err)
	}

	// A change made directly in the database is recorded too.
	if _, err := s.DB.Exec(context.Background(), `UPDATE library_settings SET max_renewals = 7 WHERE library_id = $1`, brno); err != nil {
		t.Fatal(err)
	}

	hist, err := c.ListLibrarySettingsChanges(op, &pb.ListLibrarySettingsChangesRequest{LibraryId: brno})
	if err != nil {
		t.Fatal(err)
	}
	ch := hist.GetChanges()
	if len(ch) != 3 {
		t.Fatalf("history: %v", ch)
	}
	// Newest first: the direct change, then the manager's two.
	if ch[0].GetField() != "max_renewals" || ch[0].GetActorKind() != "database" || ch[0].GetNewValue() != "7" || ch[0].GetOldValue() != "3" {
		t.Errorf("direct change: %v", ch[0])
	}
	byField := map[string]*pb.LibrarySettingsChange{}
	for _, c := range ch[1:] {
		byField[c.GetField()] = c
		if c.GetActorUsername() != "brno.manager" || c.GetActorKind() != "staff" || c.GetActorId() == "" {
			t.Errorf("actor: %v", c)
		}
		if !c.GetChangeTime().AsTime().Equal(testserver.Epoch) {
			t.Errorf("change time %v, want the server clock %v", c.GetChangeTime().AsTime(), testserver.Epoch)
		}
	}
	if m := byField["minor_age"]; m.GetOldValue() != "15" || m.GetNewValue() != "18" {
		t.Errorf("minor_age change: %v", m)
	}
	if p := byField["collect_phone"]; p.GetOldValue() != "true" || p.GetNewValue() != "false" {
		t.Errorf("collect_phone change: %v", p)
	}

	// Paging.
	p1, err := c.ListLibrarySettingsChanges(op, &pb.ListLibrarySettingsChangesRequest{LibraryId: brno, PageSize: 2})
	if err != nil || len(p1.GetChanges()) != 2 || p1.GetNextPageToken() == "" {
		t.Fatalf("page 1: %v, %v", p1, err)
	}
	p2, err := c.ListLibrarySettingsChanges(op, &pb.ListLibrarySettingsChangesRequest{LibraryId: brno, PageSize: 2, PageToken: p1.GetNextPageToken()})
	if err != nil || len(p2.GetChanges()) != 1 || p2.GetNextPageToken() != "" || p2.GetChanges()[0].GetId() >= p1.GetChanges()[1].GetId() {
		t.Fatalf("page 2: %v, %v", p2, err)
	}
}

func TestValidation(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	c := pb.NewSettingsServiceClient(s.Conn)
	brno := s.LibraryID(t, "BRNO")
	op := testserver.Ctx(s.Login(t, "operator"))

	cases := []struct {
		name  string
		req   *pb.UpdateLibrarySettingsRequest
		field string
	}{
		{"minor age below 15", &pb.UpdateLibrarySettingsRequest{LibraryId: brno, MinorAge: proto.Int32(14)}, "minor_age"},
		{"minor age above 18", &pb.UpdateLibrarySettingsRequest{LibraryId: brno, MinorAge: proto.Int32(19)}, "minor_age"},
		{"zero retention", &pb.UpdateLibrarySettingsRequest{LibraryId: brno, HistoryRetentionMonths: proto.Int32(0)}, "history_retention_months"},
		{"bad currency", &pb.UpdateLibrarySettingsRequest{LibraryId: brno, Currency: proto.String("euro")}, "currency"},
		{"negative renewals", &pb.UpdateLibrarySettingsRequest{LibraryId: brno, MaxRenewals: proto.Int32(-1)}, "max_renewals"},
		{"zero reservation days", &pb.UpdateLibrarySettingsRequest{LibraryId: brno, ReservationDays: proto.Int32(0)}, "reservation_days"},
		{"pickup days above 30", &pb.UpdateLibrarySettingsRequest{LibraryId: brno, PickupDays: proto.Int32(31)}, "pickup_days"},
		// Both given: checked by the request's CEL rule.
		{"anonymise before archive", &pb.UpdateLibrarySettingsRequest{LibraryId: brno,
			ArchiveAfterMonths: proto.Int32(20), AnonymiseAfterMonths: proto.Int32(10)}, ""},
		// One given: only the database knows the other (archive is 18).
		{"anonymise before stored archive", &pb.UpdateLibrarySettingsRequest{LibraryId: brno, AnonymiseAfterMonths: proto.Int32(12)}, "anonymise_after_months"},
		{"nothing to change", &pb.UpdateLibrarySettingsRequest{LibraryId: brno}, ""},
	}
	for _, tc := range cases {
		_, err := c.UpdateLibrarySettings(op, tc.req)
		st := wantCode(t, err, codes.InvalidArgument)
		if tc.field != "" && !contains(violationFields(st), tc.field) {
			t.Errorf("%s: violations %v, want %s", tc.name, violationFields(st), tc.field)
		}
	}
	// Nothing of the above was stored or recorded.
	hist, err := c.ListLibrarySettingsChanges(op, &pb.ListLibrarySettingsChangesRequest{LibraryId: brno})
	if err != nil || len(hist.GetChanges()) != 0 {
		t.Fatalf("history after refused updates: %v, %v", hist, err)
	}

	// The database enforces the same ranges on its own.
	for _, stmt := range []string{
		`UPDATE library_settings SET minor_age = 14 WHERE library_id = $1`,
		`UPDATE library_settings SET audit_retention_months = 0 WHERE library_id = $1`,
		`UPDATE library_settings SET anonymise_after_months = 1 WHERE library_id = $1`,
	} {
		if _, err := s.DB.Exec(context.Background(), stmt, brno); err == nil {
			t.Errorf("%s: accepted by the database", stmt)
		}
	}

	// REST: PATCH with a JSON body, validation errors as 400.
	code, body := s.HTTP(t, http.MethodPatch, "/v1/libraries/"+brno+"/settings", s.Login(t, "operator"), map[string]any{"minorAge": 18})
	if code != http.StatusOK || body["settings"].(map[string]any)["minorAge"] != float64(18) {
		t.Fatalf("REST PATCH: %d %v", code, body)
	}
	code, _ = s.HTTP(t, http.MethodPatch, "/v1/libraries/"+brno+"/settings", s.Login(t, "operator"), map[string]any{"minorAge": 40})
	if code != http.StatusBadRequest {
		t.Fatalf("REST PATCH out of range: %d", code)
	}
}

func TestWhoMayManage(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	c := pb.NewSettingsServiceClient(s.Conn)
	brno, slav := s.LibraryID(t, "BRNO"), s.LibraryID(t, "SLAV")
	mgr := testserver.Ctx(s.Login(t, "brno.manager"))

	// A manager: their own library only.
	if _, err := c.GetLibrarySettings(mgr, &pb.GetLibrarySettingsRequest{LibraryId: brno}); err != nil {
		t.Fatal(err)
	}
	_, err := c.GetLibrarySettings(mgr, &pb.GetLibrarySettingsRequest{LibraryId: slav})
	wantCode(t, err, codes.PermissionDenied)
	_, err = c.UpdateLibrarySettings(mgr, &pb.UpdateLibrarySettingsRequest{LibraryId: slav, MinorAge: proto.Int32(18)})
	wantCode(t, err, codes.PermissionDenied)
	_, err = c.ListLibrarySettingsChanges(mgr, &pb.ListLibrarySettingsChangesRequest{LibraryId: slav})
	wantCode(t, err, codes.PermissionDenied)

	// Staff without library.manage: not even their own.
	for _, user := range []string{"brno.circ", "brno.reg"} {
		_, err := c.UpdateLibrarySettings(testserver.Ctx(s.Login(t, user)), &pb.UpdateLibrarySettingsRequest{LibraryId: brno, MinorAge: proto.Int32(18)})
		wantCode(t, err, codes.PermissionDenied)
	}
	// The operator: any library; an unknown one is NOT_FOUND.
	op := testserver.Ctx(s.Login(t, "operator"))
	if _, err := c.UpdateLibrarySettings(op, &pb.UpdateLibrarySettingsRequest{LibraryId: slav, MinorAge: proto.Int32(18)}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetLibrarySettings(op, &pb.GetLibrarySettingsRequest{LibraryId: "00000000-0000-4000-8000-000000000000"})
	wantCode(t, err, codes.NotFound)
	// No token.
	_, err = c.GetLibrarySettings(context.Background(), &pb.GetLibrarySettingsRequest{LibraryId: brno})
	wantCode(t, err, codes.Unauthenticated)
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
