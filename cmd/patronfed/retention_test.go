package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/patronfed/patronfed/clock"
	"github.com/patronfed/patronfed/testserver"
)

// TestRetentionCLI: `patronfed retention run --dry-run` on the demo
// consortium two years on reports per library what would be done and who
// is held back and why, and changes nothing; the real run then does it.
// Not parallel: it sets retentionClock.
func TestRetentionCLI(t *testing.T) {
	s := testserver.Start(t)
	retentionClock = clock.NewFake(testserver.Epoch.AddDate(2, 1, 0))
	t.Cleanup(func() { retentionClock = clock.Real{} })
	run := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		err := realMain(context.Background(), append([]string{"retention", "run", "--database-url", s.DBURL}, args...), &out)
		if err != nil {
			t.Fatalf("patronfed retention run %v: %v\n%s", args, err, out.String())
		}
		return out.String()
	}
	count := func() (n int) {
		s.DB.QueryRow(context.Background(), `SELECT count(*) FROM patrons WHERE anonymised_at IS NOT NULL`).Scan(&n)
		return n
	}

	out := run("--dry-run")
	for _, want := range []string{"DRY RUN: nothing was changed", "BRNO (", "patrons anonymised           3", "patrons archived             1",
		"not anonymised: patron has 2 unreturned items; patron has 1 unpaid fee totalling 50.00 EUR", "loans anonymised             2"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, out)
		}
	}
	if count() != 0 {
		t.Fatal("the dry run changed the database")
	}
	out = run("--library", "BRNO")
	if !strings.Contains(out, "retention run as of 2028-04-02T09:00:00Z (done)") || strings.Contains(out, "SLAV") ||
		!strings.Contains(out, "skipped: the audit log is shared") {
		t.Errorf("BRNO run output:\n%s", out)
	}
	if n := count(); n != 3 {
		t.Errorf("%d patrons anonymised, want BRNO's 3 without debts", n)
	}
	var buf bytes.Buffer
	if err := realMain(context.Background(), []string{"retention", "run", "--database-url", s.DBURL, "--library", "NOPE"}, &buf); err == nil {
		t.Error("an unknown library is not an error")
	}
	buf.Reset()
	err := realMain(context.Background(), []string{"retention", "run", "--database-url", s.DBURL, "--pause", "-1s"}, &buf)
	if err == nil || !strings.Contains(err.Error(), "must not be negative") {
		t.Errorf("a negative pause: %v, want an error saying it must not be negative", err)
	}
	for _, share := range []string{"0", "1.5", "-0.1", "NaN"} {
		err := realMain(context.Background(), []string{"retention", "run", "--database-url", s.DBURL, "--work-share", share}, &buf)
		if err == nil || !strings.Contains(err.Error(), "more than 0 and at most 1") {
			t.Errorf("--work-share %s: %v, want an error giving the range", share, err)
		}
	}
}
