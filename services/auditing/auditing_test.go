package auditing_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/patronfed/patronfed/audit"
	"github.com/patronfed/patronfed/clock"
	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
	"github.com/patronfed/patronfed/pgtest"
	"github.com/patronfed/patronfed/policy"
	"github.com/patronfed/patronfed/testserver"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func wantCode(t *testing.T, err error, code codes.Code) {
	t.Helper()
	if status.Code(err) != code {
		t.Fatalf("got %v, want %v", err, code)
	}
}

// seeded is a known audit log: who read which patron's which fields, when.
type seeded struct {
	entries  []audit.Entry
	actors   []string // account ids
	libs     []string // the actors' libraries
	tokens   []string
	patrons  []string
	homeOf   map[string]string
	baseTime time.Time
}

var fieldSets = [][]string{
	{"name", "address", "cards"},
	{"name", "birth_date", "address", "cards", "service", "guardian", "id_document", "national_ids"},
	{"name", "cards", "contact"},
	{},
}

func seed(t *testing.T, s *testserver.Server) *seeded {
	t.Helper()
	d := &seeded{homeOf: map[string]string{}, baseTime: testserver.Epoch.Add(-24 * time.Hour)}
	for _, code := range []string{"BRNO", "SLAV", "KORS"} {
		d.libs = append(d.libs, s.LibraryID(t, code))
	}
	for i := range 3 {
		d.actors = append(d.actors, uuid.NewString())
		d.tokens = append(d.tokens, fmt.Sprintf("tok-%d-a", i), fmt.Sprintf("tok-%d-b", i))
	}
	for i := range 7 {
		p := uuid.NewString()
		d.patrons = append(d.patrons, p)
		d.homeOf[p] = d.libs[i%3]
	}
	for i := range 90 {
		a := i % 3
		p := d.patrons[(i*5)%7]
		in, _ := json.Marshal(map[string]any{
			"subject":  map[string]any{"kind": "staff", "account_id": d.actors[a], "library_id": d.libs[a], "permissions": []string{"patron.read"}},
			"action":   policy.ActionPatronRead,
			"resource": map[string]any{"patron_id": p, "home_library_id": d.homeOf[p]},
		})
		allowed := i%7 != 3
		fields := fieldSets[i%len(fieldSets)]
		if !allowed {
			fields = nil
		}
		d.entries = append(d.entries, audit.Entry{
			At: d.baseTime.Add(time.Duration(i) * time.Minute), ActorKind: "staff", ActorID: d.actors[a], ActorLibraryID: d.libs[a],
			TokenID: d.tokens[2*a+(i/45)], Action: policy.ActionPatronRead, PatronID: p, Allowed: allowed,
			Reasons: []string{"seeded"}, Fields: fields, PolicyVersion: 1, Input: in,
		})
	}
	w := audit.NewWriter(s.DB, clock.NewFake(testserver.Epoch), nil)
	defer w.Close()
	if err := w.Record(context.Background(), d.entries...); err != nil {
		t.Fatal(err)
	}
	return d
}

type expected struct {
	reads, patrons int64
	fields         map[string][2]int64 // reads, patrons
	perPatron      map[string]map[string]int64
	readsOf        map[string]int64
}

// expect computes the breach scope from the seeded entries, the slow way.
func (d *seeded) expect(match func(audit.Entry) bool) expected {
	ex := expected{fields: map[string][2]int64{}, perPatron: map[string]map[string]int64{}, readsOf: map[string]int64{}}
	for _, e := range d.entries {
		if !e.Allowed || !match(e) {
			continue
		}
		ex.reads++
		ex.readsOf[e.PatronID]++
		if ex.perPatron[e.PatronID] == nil {
			ex.perPatron[e.PatronID] = map[string]int64{}
		}
		for _, f := range e.Fields {
			ex.perPatron[e.PatronID][f]++
		}
	}
	ex.patrons = int64(len(ex.readsOf))
	for _, fs := range ex.perPatron {
		for f, n := range fs {
			c := ex.fields[f]
			ex.fields[f] = [2]int64{c[0] + n, c[1] + 1}
		}
	}
	return ex
}

func TestBreachScope(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	d := seed(t, s)
	ac := pb.NewAuditServiceClient(s.Conn)
	op := testserver.Ctx(s.Login(t, "operator"))
	window := [2]time.Time{d.baseTime.Add(20 * time.Minute), d.baseTime.Add(61 * time.Minute)}

	cases := []struct {
		name   string
		filter *pb.BreachFilter
		match  func(audit.Entry) bool
	}{
		{"account", &pb.BreachFilter{ActorId: d.actors[1]}, func(e audit.Entry) bool { return e.ActorID == d.actors[1] }},
		{"library in a window", &pb.BreachFilter{LibraryId: d.libs[0], StartTime: timestamppb.New(window[0]), EndTime: timestamppb.New(window[1])},
			func(e audit.Entry) bool {
				return e.ActorLibraryID == d.libs[0] && !e.At.Before(window[0]) && e.At.Before(window[1])
			}},
		{"token", &pb.BreachFilter{TokenId: d.tokens[5]}, func(e audit.Entry) bool { return e.TokenID == d.tokens[5] }},
		{"time window", &pb.BreachFilter{StartTime: timestamppb.New(window[0]), EndTime: timestamppb.New(window[1])},
			func(e audit.Entry) bool { return !e.At.Before(window[0]) && e.At.Before(window[1]) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ex := d.expect(tc.match)
			if ex.reads == 0 {
				t.Fatal("the case matches nothing; fix the seed")
			}
			// Page through two patrons at a time.
			var patrons []*pb.BreachPatron
			var summary *pb.BreachSummary
			token := ""
			for {
				r, err := ac.GetBreachScope(op, &pb.GetBreachScopeRequest{Filter: tc.filter, PageSize: 2, PageToken: token})
				if err != nil {
					t.Fatal(err)
				}
				if token == "" {
					summary = r.GetSummary()
				} else if r.GetSummary() != nil {
					t.Error("summary on a later page")
				}
				patrons = append(patrons, r.GetPatrons()...)
				if token = r.GetNextPageToken(); token == "" {
					break
				}
			}
			if summary.GetReads() != ex.reads || summary.GetPatrons() != ex.patrons {
				t.Errorf("summary %d reads / %d patrons, want %d / %d", summary.GetReads(), summary.GetPatrons(), ex.reads, ex.patrons)
			}
			gotFields := map[string][2]int64{}
			for _, fc := range summary.GetFields() {
				gotFields[fc.GetField()] = [2]int64{fc.GetReads(), fc.GetPatrons()}
			}
			if fmt.Sprint(gotFields) != fmt.Sprint(ex.fields) {
				t.Errorf("field counts %v, want %v", gotFields, ex.fields)
			}
			if int64(len(patrons)) != ex.patrons || !slices.IsSortedFunc(patrons, func(a, b *pb.BreachPatron) int {
				return compare(a.GetPatronId(), b.GetPatronId())
			}) {
				t.Fatalf("%d patrons (sorted: want), want %d", len(patrons), ex.patrons)
			}
			for _, p := range patrons {
				got := map[string]int64{}
				for _, fc := range p.GetFields() {
					got[fc.GetField()] = fc.GetReads()
				}
				if fmt.Sprint(got) != fmt.Sprint(ex.perPatron[p.GetPatronId()]) || p.GetReads() != ex.readsOf[p.GetPatronId()] ||
					p.GetHomeLibraryId() != d.homeOf[p.GetPatronId()] {
					t.Errorf("patron %s: %v, want %v reads %d", p.GetPatronId(), p, ex.perPatron[p.GetPatronId()], ex.readsOf[p.GetPatronId()])
				}
			}

			// The CSV export, in pages of 3, is the same.
			var all bytes.Buffer
			token = ""
			for {
				r, err := ac.ExportBreachScope(op, &pb.ExportBreachScopeRequest{Filter: tc.filter, PageSize: 3, PageToken: token})
				if err != nil {
					t.Fatal(err)
				}
				all.Write(r.GetData())
				if token = r.GetNextPageToken(); token == "" {
					break
				}
			}
			recs, err := csv.NewReader(&all).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			header := recs[0]
			if header[0] != "patron_id" || len(recs)-1 != len(patrons) {
				t.Fatalf("CSV: %d rows, header %v", len(recs)-1, header)
			}
			for _, rec := range recs[1:] {
				for i, col := range header[5:] {
					n, _ := strconv.ParseInt(rec[5+i], 10, 64)
					if n != ex.perPatron[rec[0]][col] {
						t.Errorf("CSV %s %s = %d, want %d", rec[0], col, n, ex.perPatron[rec[0]][col])
					}
				}
			}
		})
	}

	// JSON export: one document with the summary on the first page.
	r, err := ac.ExportBreachScope(op, &pb.ExportBreachScopeRequest{Filter: &pb.BreachFilter{ActorId: d.actors[0]}, Format: pb.BreachExportFormat_BREACH_EXPORT_FORMAT_JSON})
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Summary struct{ Reads, Patrons int64 } `json:"summary"`
		Patrons []struct {
			PatronID string           `json:"patron_id"`
			Fields   map[string]int64 `json:"fields"`
		} `json:"patrons"`
	}
	if err := json.Unmarshal(r.GetData(), &doc); err != nil || r.GetContentType() != "application/json" {
		t.Fatalf("JSON export: %v %s", err, r.GetData())
	}
	ex := d.expect(func(e audit.Entry) bool { return e.ActorID == d.actors[0] })
	if doc.Summary.Reads != ex.reads || int64(len(doc.Patrons)) != ex.patrons {
		t.Fatalf("JSON export: %+v", doc)
	}

	// A filter that scopes nothing is refused.
	_, err = ac.GetBreachScope(op, &pb.GetBreachScopeRequest{Filter: &pb.BreachFilter{}})
	wantCode(t, err, codes.InvalidArgument)
	_, err = ac.GetBreachScope(op, &pb.GetBreachScopeRequest{Filter: &pb.BreachFilter{StartTime: timestamppb.New(window[0])}})
	wantCode(t, err, codes.InvalidArgument)
}

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestListAuditEntries(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	d := seed(t, s)
	ac := pb.NewAuditServiceClient(s.Conn)
	op := testserver.Ctx(s.Login(t, "operator"))

	count := func(match func(audit.Entry) bool) int {
		n := 0
		for _, e := range d.entries {
			if match(e) {
				n++
			}
		}
		return n
	}
	cases := []struct {
		req   *pb.ListAuditEntriesRequest
		match func(audit.Entry) bool
	}{
		{&pb.ListAuditEntriesRequest{ActorId: d.actors[2]}, func(e audit.Entry) bool { return e.ActorID == d.actors[2] }},
		{&pb.ListAuditEntriesRequest{LibraryId: d.libs[1], Decision: pb.AuditDecision_AUDIT_DECISION_DENIED},
			func(e audit.Entry) bool { return e.ActorLibraryID == d.libs[1] && !e.Allowed }},
		{&pb.ListAuditEntriesRequest{PatronId: d.patrons[3], Action: "patron.read", Decision: pb.AuditDecision_AUDIT_DECISION_ALLOWED},
			func(e audit.Entry) bool { return e.PatronID == d.patrons[3] && e.Allowed }},
		{&pb.ListAuditEntriesRequest{TokenId: d.tokens[0], StartTime: timestamppb.New(d.baseTime.Add(10 * time.Minute)), EndTime: timestamppb.New(d.baseTime.Add(40 * time.Minute))},
			func(e audit.Entry) bool {
				return e.TokenID == d.tokens[0] && !e.At.Before(d.baseTime.Add(10*time.Minute)) && e.At.Before(d.baseTime.Add(40*time.Minute))
			}},
	}
	for i, tc := range cases {
		var got []*pb.AuditEntry
		tc.req.PageSize = 4
		for {
			r, err := ac.ListAuditEntries(op, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, r.GetEntries()...)
			if tc.req.PageToken = r.GetNextPageToken(); tc.req.PageToken == "" {
				break
			}
		}
		if want := count(tc.match); len(got) != want || want == 0 {
			t.Errorf("case %d: %d entries, want %d", i, len(got), want)
		}
		for j := 1; j < len(got); j++ {
			if got[j].GetSeq() >= got[j-1].GetSeq() {
				t.Fatalf("case %d: not newest first", i)
			}
		}
	}
	_, err := ac.ListAuditEntries(op, &pb.ListAuditEntriesRequest{PageToken: "garbage"})
	wantCode(t, err, codes.InvalidArgument)
	_, err = ac.ListAuditEntries(op, &pb.ListAuditEntriesRequest{ActorId: "not-a-uuid"})
	wantCode(t, err, codes.InvalidArgument)

	// Staff may not read the audit log.
	_, err = ac.ListAuditEntries(testserver.Ctx(s.Login(t, "brno.manager")), &pb.ListAuditEntriesRequest{})
	wantCode(t, err, codes.PermissionDenied)
}

func TestVerifyCatchesTampering(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	d := seed(t, s)
	ac := pb.NewAuditServiceClient(s.Conn)
	op := testserver.Ctx(s.Login(t, "operator"))

	r, err := ac.VerifyAuditChain(op, &pb.VerifyAuditChainRequest{})
	if err != nil || !r.GetOk() || r.GetChecked() < int64(len(d.entries)) {
		t.Fatalf("verify intact log: %v, %v", r, err)
	}
	// The app role cannot change the log...
	if _, err := s.App.Pool.Exec(context.Background(), `UPDATE audit_log SET fields = '{}' WHERE seq = 40`); err == nil {
		t.Fatal("the server's role could update the audit log")
	}
	// ...but a superuser can; Verify finds the row.
	if _, err := s.DB.Exec(context.Background(), `UPDATE audit_log SET fields = fields || '{national_ids}' WHERE seq = 40`); err != nil {
		t.Fatal(err)
	}
	r, err = ac.VerifyAuditChain(op, &pb.VerifyAuditChainRequest{})
	if err != nil || r.GetOk() || r.GetFirstBrokenSeq() != 40 || r.GetReason() == "" {
		t.Fatalf("verify tampered log: %v, %v", r, err)
	}
	t.Logf("tampered row found: %s", r.GetReason())
	_, err = ac.VerifyAuditChain(testserver.Ctx(s.Login(t, "brno.manager")), &pb.VerifyAuditChainRequest{})
	wantCode(t, err, codes.PermissionDenied)
}
