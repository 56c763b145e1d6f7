package statistics_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
	"github.com/patronfed/patronfed/testserver"
)

// statisticFields are all the fields a statistics response may have: ids
// of libraries, the month, the patron category, counts, the threshold and
// the month boundaries counted (timestamps: seconds and nanos). None of
// them can name a person.
var statisticFields = []string{
	"rows", "threshold", "library_id", "month", "category", "home_library_id", "consented_library_id",
	"loans", "patrons", "count", "suppressed", "start_time", "end_time", "seconds", "nanos",
}

// TestStatisticsContainNoPerson (privacy-rules §2.9: statistics leave the
// system only as aggregates with no person in them). First the schema:
// every field reachable from a StatisticsService response is in
// statisticFields, so no response can carry a patron id, name, card,
// identifier or loan. Then the data: with enough patrons that cells are
// not suppressed, no response of any statistics method, over gRPC or REST,
// to the operator or a manager, contains a patron id, name, card number,
// birth date, address, e-mail or loan id.
func TestStatisticsContainNoPerson(t *testing.T) {
	t.Parallel()
	d, err := protoregistry.GlobalFiles.FindDescriptorByName("patronfed.v1.StatisticsService")
	if err != nil {
		t.Fatal(err)
	}
	var walk func(m protoreflect.MessageDescriptor, path string)
	seen := map[protoreflect.FullName]bool{}
	walk = func(m protoreflect.MessageDescriptor, path string) {
		if seen[m.FullName()] {
			return
		}
		seen[m.FullName()] = true
		for i := range m.Fields().Len() {
			f := m.Fields().Get(i)
			if !slices.Contains(statisticFields, string(f.Name())) {
				t.Errorf("%s.%s: a statistics response field outside the aggregate vocabulary", path, f.Name())
			}
			if f.Message() != nil {
				walk(f.Message(), path+"."+string(f.Name()))
			}
		}
	}
	methods := d.(protoreflect.ServiceDescriptor).Methods()
	for i := range methods.Len() {
		walk(methods.Get(i).Output(), string(methods.Get(i).Name()))
	}

	s := testserver.Start(t)
	ctx := context.Background()
	brno, slav := s.LibraryID(t, "BRNO"), s.LibraryID(t, "SLAV")
	exec := func(stmt string, args ...any) {
		t.Helper()
		if _, err := s.DB.Exec(ctx, stmt, args...); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	// Six named BRNO adults with cards, consent to SLAV and a loan each in
	// February 2026, on top of the demo patrons: cells of 5 and more.
	for i := range 6 {
		var id string
		if err := s.DB.QueryRow(ctx, `INSERT INTO patrons (home_library_id, first_name, last_name, birth_date, permanent_address, category)
			VALUES ($1, $2, $3, $4, $5, 'adult') RETURNING id::text`, brno, fmt.Sprintf("Statfirst%d", i), fmt.Sprintf("Statlast%d", i),
			fmt.Sprintf("1970-01-%02d", i+10), fmt.Sprintf("Statistická %d, Brno", i)).Scan(&id); err != nil {
			t.Fatal(err)
		}
		exec(`INSERT INTO cards (card_number, patron_id) VALUES ($1, $2)`, fmt.Sprintf("STAT%04d", i), id)
		exec(`INSERT INTO consents (patron_id, library_id, granted_at, method) VALUES ($1, $2, now(), 'web')`, id, slav)
		exec(`WITH i AS (INSERT INTO items (barcode, title, owning_library_id, created_at, updated_at)
			VALUES ($1, 'A Title', $2, now(), now()) RETURNING id)
			INSERT INTO loans (item_id, patron_id, lending_library_id, checked_out_at, due_at)
			SELECT i.id, $3, $2, timestamptz '2026-02-10 10:00Z', timestamptz '2026-03-10 10:00Z' FROM i`, fmt.Sprintf("STAT-%d", i), brno, id)
	}
	var person []string
	rows, err := s.DB.Query(ctx, `
		SELECT id::text FROM patrons UNION ALL
		SELECT first_name FROM patrons WHERE first_name IS NOT NULL UNION ALL
		SELECT last_name FROM patrons WHERE last_name IS NOT NULL UNION ALL
		SELECT birth_date::text FROM patrons WHERE birth_date IS NOT NULL UNION ALL
		SELECT permanent_address FROM patrons WHERE permanent_address IS NOT NULL UNION ALL
		SELECT email FROM patrons WHERE email IS NOT NULL UNION ALL
		SELECT card_number FROM cards UNION ALL
		SELECT id::text FROM loans`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		person = append(person, v)
	}
	rows.Close()

	c := pb.NewStatisticsServiceClient(s.Conn)
	from, to := timestamppb.New(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)), timestamppb.New(time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC))
	counted := 0
	for _, user := range []string{"operator", "brno.manager"} {
		tok := s.Login(t, user)
		calls := map[string]func() (proto.Message, error){
			"loans": func() (proto.Message, error) {
				return c.GetLoanStatistics(testserver.Ctx(tok), &pb.GetLoanStatisticsRequest{StartTime: from, EndTime: to})
			},
			"patrons": func() (proto.Message, error) {
				return c.GetPatronStatistics(testserver.Ctx(tok), &pb.GetPatronStatisticsRequest{})
			},
			"consents": func() (proto.Message, error) {
				return c.GetConsentStatistics(testserver.Ctx(tok), &pb.GetConsentStatisticsRequest{})
			},
		}
		bodies := map[string]string{}
		for name, call := range calls {
			resp, err := call()
			if err != nil {
				t.Fatalf("%s %s: %v", user, name, err)
			}
			bodies["gRPC "+name] = protojson.Format(resp)
		}
		for _, path := range []string{"/v1/statistics/loans?startTime=2025-01-01T00:00:00Z&endTime=2026-04-01T00:00:00Z",
			"/v1/statistics/patrons", "/v1/statistics/consents"} {
			code, raw := s.HTTPRaw(t, http.MethodGet, path, tok, nil)
			if code != http.StatusOK {
				t.Fatalf("%s %s: %d %s", user, path, code, raw)
			}
			bodies["REST "+path] = string(raw)
		}
		for where, body := range bodies {
			counted += strings.Count(body, `"count"`)
			for _, p := range person {
				if strings.Contains(body, p) {
					t.Errorf("%s, %s: the statistics contain %q", user, where, p)
				}
			}
		}
	}
	if counted < 6 {
		t.Fatalf("only %d published cells: the fixture does not exercise unsuppressed counts", counted)
	}
}
