package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/patronfed/patronfed/auth"
	"github.com/patronfed/patronfed/pgtest"
)

// The first operator is bootstrapped from the command line; the password
// comes from the environment or stdin, never a flag, and is stored as an
// argon2id hash.
func TestAdminCreateOperatorAndResetPassword(t *testing.T) {
	db := pgtest.NewDB(t)
	t.Setenv("PATRONFED_ADMIN_PASSWORD", "first-operator-password")
	var out bytes.Buffer
	ctx := context.Background()
	if err := realMain(ctx, []string{"admin", "create-operator", "--database-url", db, "--username", "consortium.ops"}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "operator consortium.ops created") {
		t.Fatalf("output %q", out.String())
	}
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	hashOf := func() string {
		var kind, hash string
		if err := conn.QueryRow(ctx, `SELECT kind, password_hash FROM accounts WHERE username = 'consortium.ops'`).Scan(&kind, &hash); err != nil || kind != "operator" {
			t.Fatalf("account: %q %v", kind, err)
		}
		return hash
	}
	if ok, _, err := auth.VerifySecret("first-operator-password", hashOf()); !ok || err != nil || !strings.HasPrefix(hashOf(), "$argon2id$") {
		t.Fatalf("stored hash does not verify: %v", err)
	}
	// A second operator with the same name is refused.
	if err := realMain(ctx, []string{"admin", "create-operator", "--database-url", db, "--username", "consortium.ops"}, &out); err == nil {
		t.Fatal("duplicate operator created")
	}
	t.Setenv("PATRONFED_ADMIN_PASSWORD", "second-operator-password")
	if err := realMain(ctx, []string{"admin", "reset-password", "--database-url", db, "--username", "consortium.ops"}, &out); err != nil {
		t.Fatal(err)
	}
	if ok, _, _ := auth.VerifySecret("second-operator-password", hashOf()); !ok {
		t.Fatal("password not reset")
	}
	t.Setenv("PATRONFED_ADMIN_PASSWORD", "short")
	if err := realMain(ctx, []string{"admin", "create-operator", "--database-url", db, "--username", "other.ops"}, &out); err == nil {
		t.Fatal("short password accepted")
	}
}
