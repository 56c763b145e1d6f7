package statistics_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
	"github.com/patronfed/patronfed/pgtest"
	"github.com/patronfed/patronfed/testserver"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func wantCode(t *testing.T, err error, code codes.Code) {
	t.Helper()
	if status.Code(err) != code {
		t.Fatalf("got %v, want %v", err, code)
	}
}

// fixture adds two libraries of its own, so that the demo data cannot
// change the counts: at TSTA 7 adults and 2 children, 6 of whom consent to
// TSTB and 1 to BRNO; loans at TSTA: 8 in January 2025, 2 in February;
// at TSTB: 5 in February.
func fixture(t *testing.T, s *testserver.Server) (tsta, tstb, brno string) {
	t.Helper()
	ctx := context.Background()
	brno = s.LibraryID(t, "BRNO")
	for _, l := range []struct {
		code string
		id   *string
	}{{"TSTA", &tsta}, {"TSTB", &tstb}} {
		if err := s.DB.QueryRow(ctx, `INSERT INTO libraries (code, name, country) VALUES ($1, $1, 'CZ') RETURNING id::text`, l.code).Scan(l.id); err != nil {
			t.Fatal(err)
		}
	}
	exec := func(stmt string, args ...any) {
		t.Helper()
		if _, err := s.DB.Exec(ctx, stmt, args...); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	exec(`INSERT INTO patrons (home_library_id, category) SELECT $1, CASE WHEN i <= 7 THEN 'adult' ELSE 'child' END FROM generate_series(1, 9) i`, tsta)
	// An archived patron is not active.
	exec(`INSERT INTO patrons (home_library_id, category, archived_at) VALUES ($1, 'adult', now())`, tsta)
	exec(`INSERT INTO consents (patron_id, library_id, granted_at, method)
		SELECT id, $2, now(), 'in_person' FROM patrons WHERE home_library_id = $1 AND archived_at IS NULL ORDER BY id LIMIT 6`, tsta, tstb)
	exec(`INSERT INTO consents (patron_id, library_id, granted_at, method)
		SELECT id, $2, now(), 'web' FROM patrons WHERE home_library_id = $1 AND archived_at IS NULL ORDER BY id DESC LIMIT 1`, tsta, brno)
	exec(`INSERT INTO items (barcode, title, owning_library_id, created_at, updated_at)
		SELECT 'TST-' || i, 'Title ' || i, CASE WHEN i <= 10 THEN $1 ELSE $2 END::uuid, now(), now() FROM generate_series(1, 15) i`, tsta, tstb)
	exec(`INSERT INTO loans (item_id, lending_library_id, checked_out_at, due_at, returned_at, return_library_id)
		SELECT it.id, it.owning_library_id, x.t, x.t + interval '28 days', x.t + interval '7 days', it.owning_library_id
		FROM items it, LATERAL (SELECT CASE
		  WHEN it.owning_library_id = $1::uuid AND substr(it.barcode, 5)::int <= 8 THEN timestamptz '2025-01-15 10:00Z'
		  ELSE timestamptz '2025-02-10 10:00Z' END AS t) x
		WHERE it.barcode LIKE 'TST-%'`, tsta)
	return tsta, tstb, brno
}

// cell renders a count for comparison: "suppressed" or the number.
func cell(c *pb.StatisticCount) any {
	if c.GetSuppressed() {
		if _, ok := c.GetValue().(*pb.StatisticCount_Suppressed); !ok {
			return "bad cell"
		}
		return "suppressed"
	}
	return c.GetCount()
}

func TestSmallCellsSuppressed(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	tsta, tstb, brno := fixture(t, s)
	c := pb.NewStatisticsServiceClient(s.Conn)
	op := testserver.Ctx(s.Login(t, "operator"))
	jan, mar := timestamppb.New(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)), timestamppb.New(time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC))

	loans, err := c.GetLoanStatistics(op, &pb.GetLoanStatisticsRequest{StartTime: jan, EndTime: mar})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]any{}
	for _, r := range loans.GetRows() {
		got[r.GetLibraryId()+" "+r.GetMonth()] = cell(r.GetLoans())
	}
	want := map[string]any{tsta + " 2025-01": int64(8), tsta + " 2025-02": "suppressed", tstb + " 2025-02": int64(5)}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("loans %s = %v, want %v", k, got[k], v)
		}
	}
	if loans.GetThreshold() != 5 {
		t.Errorf("threshold %d", loans.GetThreshold())
	}

	// A higher threshold suppresses more; a lower one is refused.
	hi, err := c.GetLoanStatistics(op, &pb.GetLoanStatisticsRequest{LibraryId: tsta, StartTime: jan, EndTime: mar, Threshold: proto.Int32(10)})
	if err != nil || len(hi.GetRows()) != 2 || cell(hi.GetRows()[0].GetLoans()) != "suppressed" || cell(hi.GetRows()[1].GetLoans()) != "suppressed" {
		t.Fatalf("threshold 10: %v, %v", hi, err)
	}
	_, err = c.GetLoanStatistics(op, &pb.GetLoanStatisticsRequest{Threshold: proto.Int32(4)})
	wantCode(t, err, codes.InvalidArgument)

	patrons, err := c.GetPatronStatistics(op, &pb.GetPatronStatisticsRequest{LibraryId: tsta})
	if err != nil {
		t.Fatal(err)
	}
	got = map[string]any{}
	for _, r := range patrons.GetRows() {
		got[r.GetCategory()] = cell(r.GetPatrons())
	}
	if len(got) != 2 || got["adult"] != int64(7) || got["child"] != "suppressed" {
		t.Errorf("patrons: %v", got)
	}

	consents, err := c.GetConsentStatistics(op, &pb.GetConsentStatisticsRequest{LibraryId: tsta})
	if err != nil {
		t.Fatal(err)
	}
	got = map[string]any{}
	for _, r := range consents.GetRows() {
		if r.GetHomeLibraryId() != tsta {
			t.Errorf("consent row from another library: %v", r)
		}
		got[r.GetConsentedLibraryId()] = cell(r.GetPatrons())
	}
	if len(got) != 2 || got[tstb] != int64(6) || got[brno] != "suppressed" {
		t.Errorf("consents: %v", got)
	}

	// Over REST a suppressed cell carries no number.
	code, body := s.HTTP(t, http.MethodGet, "/v1/statistics/patrons?libraryId="+tsta, s.Login(t, "operator"), nil)
	if code != http.StatusOK {
		t.Fatalf("REST: %d %v", code, body)
	}
	for _, r := range body["rows"].([]any) {
		row := r.(map[string]any)
		p := row["patrons"].(map[string]any)
		if row["category"] == "child" && (p["suppressed"] != true || p["count"] != nil) {
			t.Errorf("REST suppressed cell: %v", p)
		}
	}
}

func TestManagersSeeTheirOwnLibrary(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	tsta, _, brno := fixture(t, s)
	c := pb.NewStatisticsServiceClient(s.Conn)
	mgr := testserver.Ctx(s.Login(t, "brno.manager"))

	r, err := c.GetPatronStatistics(mgr, &pb.GetPatronStatisticsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range r.GetRows() {
		if row.GetLibraryId() != brno {
			t.Errorf("manager saw another library: %v", row)
		}
	}
	cs, err := c.GetConsentStatistics(mgr, &pb.GetConsentStatisticsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range cs.GetRows() {
		if row.GetHomeLibraryId() != brno && row.GetConsentedLibraryId() != brno {
			t.Errorf("manager saw consents between other libraries: %v", row)
		}
	}
	_, err = c.GetLoanStatistics(mgr, &pb.GetLoanStatisticsRequest{LibraryId: tsta})
	wantCode(t, err, codes.PermissionDenied)
	_, err = c.GetPatronStatistics(testserver.Ctx(s.Login(t, "brno.circ")), &pb.GetPatronStatisticsRequest{})
	wantCode(t, err, codes.PermissionDenied)
}

// TestNoDifferencingByRange: loan statistics count whole, ended months
// whatever range is asked for, so two answers cannot be subtracted to
// count the loans of a day or an hour (privacy-rules §2.9).
func TestNoDifferencingByRange(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	tsta, tstb, _ := fixture(t, s)
	c := pb.NewStatisticsServiceClient(s.Conn)
	op := testserver.Ctx(s.Login(t, "operator"))
	at := func(y int, m time.Month, d, h, min, sec int) *timestamppb.Timestamp {
		return timestamppb.New(time.Date(y, m, d, h, min, sec, 0, time.UTC))
	}
	loans := func(req *pb.GetLoanStatisticsRequest) (map[string]any, *pb.GetLoanStatisticsResponse) {
		t.Helper()
		resp, err := c.GetLoanStatistics(op, req)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]any{}
		for _, r := range resp.GetRows() {
			if r.GetLibraryId() == tsta || r.GetLibraryId() == tstb {
				got[r.GetLibraryId()+" "+r.GetMonth()] = cell(r.GetLoans())
			}
		}
		return got, resp
	}

	// Every one of TSTA's 8 January loans was checked out at 10:00 on
	// 15 January. A range starting a second later would count none of
	// them, and subtracted from the whole month give all 8 to that second.
	whole, wresp := loans(&pb.GetLoanStatisticsRequest{StartTime: at(2025, 1, 1, 0, 0, 0), EndTime: at(2025, 3, 1, 0, 0, 0)})
	narrow, nresp := loans(&pb.GetLoanStatisticsRequest{StartTime: at(2025, 1, 15, 10, 0, 1), EndTime: at(2025, 2, 10, 10, 0, 1)})
	want := map[string]any{tsta + " 2025-01": int64(8), tsta + " 2025-02": "suppressed", tstb + " 2025-02": int64(5)}
	for name, got := range map[string]map[string]any{"whole months": whole, "within months": narrow} {
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: %v, want %v", name, got, want)
		}
	}
	for _, r := range []*pb.GetLoanStatisticsResponse{wresp, nresp} {
		if !r.GetStartTime().AsTime().Equal(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)) ||
			!r.GetEndTime().AsTime().Equal(time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)) {
			t.Errorf("months counted: %v – %v, want 2025-01-01 – 2025-03-01", r.GetStartTime().AsTime(), r.GetEndTime().AsTime())
		}
	}

	// The month that has not ended is not counted: five loans at TSTB an
	// hour ago (the test clock is 2 March 2026) are not in the answer...
	if _, err := s.DB.Exec(context.Background(), `INSERT INTO loans (item_id, lending_library_id, checked_out_at, due_at, returned_at, return_library_id)
		SELECT id, owning_library_id, $2::timestamptz - interval '1 hour', $2::timestamptz + interval '27 days',
		  $2::timestamptz - interval '30 minutes', owning_library_id
		FROM items WHERE owning_library_id = $1 LIMIT 5`, tstb, s.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	got, resp := loans(&pb.GetLoanStatisticsRequest{})
	if _, ok := got[tstb+" 2026-03"]; ok || !resp.GetEndTime().AsTime().Equal(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("default range: %v, ending %v; want March 2026 left out", got, resp.GetEndTime().AsTime())
	}
	// ... a range within it is refused, saying why ...
	_, err := c.GetLoanStatistics(op, &pb.GetLoanStatisticsRequest{StartTime: at(2026, 3, 1, 0, 0, 0)})
	wantCode(t, err, codes.InvalidArgument)
	if !strings.Contains(err.Error(), "the last ended month is 2026-02") {
		t.Errorf("error: %v", err)
	}
	// ... and once it has ended, it is counted.
	s.Clock.Set(time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC))
	op = testserver.Ctx(s.Login(t, "operator"))
	got, _ = loans(&pb.GetLoanStatisticsRequest{StartTime: at(2026, 3, 1, 0, 0, 0)})
	if got[tstb+" 2026-03"] != int64(5) {
		t.Errorf("after March: %v", got)
	}
}
