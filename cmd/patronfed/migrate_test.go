package main

import (
	"bytes"
	"context"
	"slices"
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

// The commands that open the database themselves refuse plaintext to a
// remote PostgreSQL as serve does (privacy rules §5.1), before connecting,
// unless told the network is private.
func TestDatabaseCommandsRefusePlaintextToARemoteHost(t *testing.T) {
	t.Setenv("PATRONFED_ADMIN_PASSWORD", "a-long-enough-password")
	remote := "postgres://u@db.invalid:1/none?sslmode=disable"
	for _, cmd := range []struct{ name, rest []string }{
		{[]string{"migrate"}, []string{"status"}},
		{[]string{"retention", "run"}, []string{"--dry-run"}},
		{[]string{"admin", "create-operator"}, []string{"--username", "op2"}},
	} {
		args := slices.Concat(cmd.name, []string{"--database-url", remote}, cmd.rest)
		err := realMain(context.Background(), args, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), "refusing to reach PostgreSQL on db.invalid without TLS") {
			t.Errorf("%v: %v", args, err)
		}
		// Declared private: it gets as far as connecting (and fails there).
		args = slices.Concat(cmd.name, []string{"--database-url", remote, "--allow-db-plaintext"}, cmd.rest)
		err = realMain(context.Background(), args, &bytes.Buffer{})
		if err == nil || strings.Contains(err.Error(), "refusing") {
			t.Errorf("%v: %v", args, err)
		}
	}
}
