package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/patronfed/patronfed/pgtest"
)

func TestMigrateUpStatusDown(t *testing.T) {
	t.Parallel()
	db := pgtest.NewEmptyDB(t)
	ctx := context.Background()
	run := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		if err := realMain(ctx, append([]string{"migrate", "--database-url", db}, args...), &out); err != nil {
			t.Fatalf("migrate %v: %v", args, err)
		}
		return out.String()
	}
	run("up")
	st := run("status")
	if strings.Count(st, "\n") < 6 || strings.Contains(strings.ToLower(st), "pending") {
		t.Fatalf("after up:\n%s", st)
	}
	run("--steps", "1", "down")
	if after := run("status"); strings.Count(after, "pending") != 1 {
		t.Fatalf("one step down should leave exactly one migration pending:\n%s", after)
	}
	run("up")
	if again := run("status"); strings.Contains(again, "pending") {
		t.Fatalf("status after re-up:\n%s", again)
	}
}
