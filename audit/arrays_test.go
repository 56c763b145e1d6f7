package audit_test

import (
	"context"
	"slices"
	"testing"

	"github.com/patronfed/patronfed/audit"
	"github.com/patronfed/patronfed/clock"
)

// The writer sends a batch's text[] columns as array literals (one
// INSERT ... SELECT FROM unnest per batch): any string must come back
// exactly, and the chain must verify.
func TestArrayColumnsRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	app, su := appPool(t)
	w := audit.NewWriter(app, clock.NewFake(epoch), nil)
	defer w.Close()
	odd := []string{`a "quoted" reason`, `back\slash`, `comma, and {braces}`, "NULL", "", "ünïcödé ✓", `\"`}
	e := entry(1)
	e.Reasons, e.Fields, e.ActorRoles = odd, []string{}, []string{"x,y"}
	e2 := entry(2)
	e2.ActorID, e2.ActorLibraryID, e2.PatronID = "", "", ""
	if err := w.Record(ctx, e, e2); err != nil {
		t.Fatal(err)
	}
	var reasons, fields, roles []string
	if err := su.QueryRow(ctx, `SELECT reasons, fields, actor_roles FROM audit_log WHERE request_id = $1`, e.RequestID).
		Scan(&reasons, &fields, &roles); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(reasons, odd) || len(fields) != 0 || !slices.Equal(roles, []string{"x,y"}) {
		t.Fatalf("stored reasons %q fields %q roles %q", reasons, fields, roles)
	}
	var nulls bool
	if err := su.QueryRow(ctx, `SELECT actor_id IS NULL AND actor_library_id IS NULL AND patron_id IS NULL FROM audit_log WHERE request_id = $1`,
		e2.RequestID).Scan(&nulls); err != nil || !nulls {
		t.Fatalf("ids of an entry without them: null=%v err=%v", nulls, err)
	}
	if res := verify(t, su); !res.OK {
		t.Fatalf("chain does not verify: %+v", res)
	}
}
