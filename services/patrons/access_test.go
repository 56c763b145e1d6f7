package patrons_test

import (
	"context"
	"net/http"
	"slices"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/patronfed/patronfed/audit"
	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
)

const unknownPatron = "0b6c4e4e-5d5e-4c1f-9a61-3f1f0c1d2e3f"

// The access policy's cases, through the real server, over gRPC and over
// the REST gateway: who sees which field groups of which demo patron. Each
// read, allowed or denied, leaves exactly one audit row naming the field
// groups returned, and the chain verifies at the end.
func TestPolicyCasesOverGRPCAndREST(t *testing.T) {
	t.Parallel()
	e := start(t)
	all := []string{"name", "birth_date", "address", "cards", "service", "contact", "guardian", "id_document", "national_ids", "special_category"}
	cases := []struct {
		name, user, card string
		allow            bool
		fields           []string // exactly the groups returned
	}{
		{"home registrar sees the record and identifiers", "brno.reg", "B0002", true,
			[]string{"name", "birth_date", "address", "cards", "service", "contact", "guardian", "id_document", "national_ids"}},
		{"home circulation: no identifiers", "brno.circ", "B0002", true,
			[]string{"name", "birth_date", "address", "cards", "service", "contact", "guardian"}},
		{"other library with consent: no ID document, no national ids", "slav.reg", "B0002", true,
			[]string{"name", "birth_date", "address", "cards", "service", "contact", "guardian"}},
		{"other library without consent", "slav.reg", "B0003", false, nil},
		{"third library without consent", "kors.manager", "B0002", false, nil},
		{"active loan there, no consent: only what the loan needs", "slav.circ", "B0001", true,
			[]string{"name", "address", "cards", "contact"}},
		{"no optional-data consent: contact withheld", "brno.manager", "B0003", true,
			[]string{"name", "birth_date", "address", "cards", "service", "guardian", "id_document", "national_ids", "special_category"}},
		{"special category with its permission", "kors.reg", "K0001", true,
			[]string{"name", "birth_date", "address", "cards", "service", "guardian", "id_document", "national_ids", "special_category"}},
		{"special category without it (manager)", "kors.manager", "K0001", true,
			[]string{"name", "birth_date", "address", "cards", "service", "guardian", "id_document", "national_ids"}},
		{"special category without it (circulation)", "kors.circ", "K0001", true,
			[]string{"name", "birth_date", "address", "cards", "service", "guardian"}},
		{"consent given in the catalogue", "brno.circ", "S0001", true,
			[]string{"name", "birth_date", "address", "cards", "service", "guardian"}},
		{"minor with guardian", "brno.circ", "B0004", true,
			[]string{"name", "birth_date", "address", "cards", "service", "guardian"}},
		{"operator never reads patrons", "operator", "B0001", false, nil},
		{"patron reads their own record", "patron:B0001", "B0001", true, all},
		{"patron may not read another", "patron:B0001", "B0002", false, nil},
		{"no such patron: denied like any other", "brno.reg", "", false, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			id := unknownPatron
			if tc.card != "" {
				id = e.id(t, tc.card)
			}
			// gRPC.
			ctx, rid := e.as(t, tc.user)
			resp, err := e.c.GetPatron(ctx, &pb.GetPatronRequest{PatronId: id})
			if !tc.allow {
				if status.Code(err) != codes.PermissionDenied {
					t.Fatalf("gRPC: %v, want PERMISSION_DENIED", err)
				}
			} else {
				if err != nil {
					t.Fatalf("gRPC: %v", err)
				}
				p := resp.GetPatron()
				if !slices.Equal(p.GetVisibleFields(), tc.fields) {
					t.Errorf("gRPC visible fields %v, want %v", p.GetVisibleFields(), tc.fields)
				}
				if got := present(p); !subset(got, tc.fields) {
					t.Errorf("gRPC returned data of groups %v beyond %v", got, tc.fields)
				}
			}
			checkAudit(t, e, rid, id, tc.allow, tc.fields)

			// REST.
			code, body, rid := e.rest(t, tc.user, "GET", "/v1/patrons/"+id, nil)
			want := http.StatusOK
			if !tc.allow {
				want = http.StatusForbidden
			}
			if code != want {
				t.Fatalf("REST: %d %v, want %d", code, body, want)
			}
			if tc.allow {
				p, _ := body["patron"].(map[string]any)
				var got []string
				for _, f := range p["visibleFields"].([]any) {
					got = append(got, f.(string))
				}
				if !slices.Equal(got, tc.fields) {
					t.Errorf("REST visible fields %v, want %v", got, tc.fields)
				}
				for _, k := range []string{"idDocumentNumber", "nationalIds", "specialCategories", "email", "birthDate"} {
					if _, ok := p[k]; ok && !slices.Contains(tc.fields, restGroup[k]) {
						t.Errorf("REST returned %s", k)
					}
				}
			}
			checkAudit(t, e, rid, id, tc.allow, tc.fields)
		})
	}
	t.Cleanup(func() {
		res, err := audit.Verify(context.Background(), e.s.DB)
		if err != nil || !res.OK || res.Checked < int64(2*len(cases)) {
			t.Errorf("audit chain: %+v, %v", res, err)
		}
	})
}

var restGroup = map[string]string{
	"idDocumentNumber": "id_document", "nationalIds": "national_ids", "specialCategories": "special_category",
	"email": "contact", "birthDate": "birth_date",
}

func checkAudit(t *testing.T, e *env, rid, patronID string, allow bool, fields []string) {
	t.Helper()
	rows := e.auditRows(t, rid)
	if len(rows) != 1 {
		t.Fatalf("request %s: %d audit rows, want 1", rid, len(rows))
	}
	r := rows[0]
	if r.PatronID != patronID || r.Action != "patron.read" || r.Allowed != allow || !slices.Equal(r.Fields, fields) || len(r.Reasons) == 0 {
		t.Errorf("audit row %+v, want patron %s allowed %v fields %v", r, patronID, allow, fields)
	}
}

// A denial says nothing about whether the patron exists (AIP-211): the
// same code and message for a patron the caller may not see and for one
// that does not exist.
func TestDenialRevealsNothing(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := e.ctx(t, "slav.reg")
	_, errHidden := e.c.GetPatron(ctx, &pb.GetPatronRequest{PatronId: e.id(t, "B0003")})
	_, errMissing := e.c.GetPatron(ctx, &pb.GetPatronRequest{PatronId: unknownPatron})
	_, errUpdate := e.c.UpdatePatron(ctx, &pb.UpdatePatronRequest{PatronId: unknownPatron, Version: 7,
		Patron: &pb.PatronFields{FirstName: "X"}, UpdateMask: mask("first_name")})
	_, errUpdateHidden := e.c.UpdatePatron(ctx, &pb.UpdatePatronRequest{PatronId: e.id(t, "B0003"), Version: 7,
		Patron: &pb.PatronFields{FirstName: "X"}, UpdateMask: mask("first_name")})
	sh, sm := status.Convert(errHidden), status.Convert(errMissing)
	if sh.Code() != codes.PermissionDenied || sh.Code() != sm.Code() || sh.Message() != sm.Message() || len(sh.Details()) != len(sm.Details()) {
		t.Errorf("hidden %v vs missing %v", errHidden, errMissing)
	}
	uh, um := status.Convert(errUpdateHidden), status.Convert(errUpdate)
	if uh.Code() != codes.PermissionDenied || uh.Message() != um.Message() {
		t.Errorf("update: hidden %v vs missing %v", errUpdateHidden, errUpdate)
	}
}

// Every decision is timed into patronfed_policy_decision_seconds, by
// outcome, every audit wait into patronfed_audit_record_seconds and every
// statement into patronfed_db_statement_seconds, in the registry the
// server serves at /metrics.
func TestDecisionsAreTimed(t *testing.T) {
	t.Parallel()
	e := start(t)
	if _, err := e.c.GetPatron(e.ctx(t, "brno.circ"), &pb.GetPatronRequest{PatronId: e.id(t, "B0001")}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.GetPatron(e.ctx(t, "slav.reg"), &pb.GetPatronRequest{PatronId: e.id(t, "B0003")}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("slav.reg reading B0003: %v, want PermissionDenied", err)
	}
	families, err := e.s.App.Metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]uint64{}
	rpcs := false
	var auditWaits, statements uint64
	var acquires float64
	for _, f := range families {
		switch f.GetName() {
		case "patronfed_policy_decision_seconds":
			for _, m := range f.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "allowed" {
						counts[l.GetValue()] += m.GetHistogram().GetSampleCount()
					}
				}
			}
		case "patronfed_grpc_server_handled_total":
			rpcs = true
		case "patronfed_audit_record_seconds":
			auditWaits = f.GetMetric()[0].GetHistogram().GetSampleCount()
		case "patronfed_db_statement_seconds":
			statements = f.GetMetric()[0].GetHistogram().GetSampleCount()
		case "patronfed_db_pool_acquires_total":
			acquires = f.GetMetric()[0].GetCounter().GetValue()
		}
	}
	// Each read is at least its view statement and its audit statement.
	if statements < 4 || acquires < 4 {
		t.Errorf("statements timed = %d, pool acquisitions = %v, want at least 4 each", statements, acquires)
	}
	if auditWaits < 2 {
		t.Errorf("audit waits observed = %d, want at least 2 (both reads were audited)", auditWaits)
	}
	if counts["true"] == 0 || counts["false"] == 0 {
		t.Errorf("decisions timed by outcome: %v, want both allowed=true and allowed=false", counts)
	}
	if !rpcs {
		t.Error("the RPC metrics are not in the same registry")
	}
}
