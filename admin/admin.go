// Package admin holds the operator's bootstrap actions that must work before
// anyone can log in: creating the first operator account and resetting an
// operator's password. They run against the database directly, from the
// `patronfed admin` command.
package admin

import (
	"context"
	"fmt"
	"regexp"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/patronfed/patronfed/auth"
	"github.com/patronfed/patronfed/store"
)

var usernameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{2,63}$`)

// CreateOperator creates an operator account and returns its id.
func CreateOperator(ctx context.Context, db *pgxpool.Pool, username, displayName, password string, p auth.Params) (string, error) {
	if !usernameRE.MatchString(username) {
		return "", fmt.Errorf("username must match %s", usernameRE)
	}
	if len(password) < 12 {
		return "", fmt.Errorf("password must have at least 12 characters")
	}
	if displayName == "" {
		displayName = username
	}
	hash, err := auth.HashSecret(password, p)
	if err != nil {
		return "", err
	}
	var id string
	err = db.QueryRow(ctx, `INSERT INTO accounts (kind, username, display_name, password_hash)
		VALUES ('operator', $1, $2, $3) RETURNING id::text`, username, displayName, hash).Scan(&id)
	if err != nil {
		return "", store.Status(err)
	}
	return id, nil
}

// ResetPassword sets a new password for an account (operator or staff).
func ResetPassword(ctx context.Context, db *pgxpool.Pool, username, password string, p auth.Params) error {
	if len(password) < 12 {
		return fmt.Errorf("password must have at least 12 characters")
	}
	hash, err := auth.HashSecret(password, p)
	if err != nil {
		return err
	}
	tag, err := db.Exec(ctx, `UPDATE accounts SET password_hash = $2, updated_at = now() WHERE username = $1`, username, hash)
	if err != nil {
		return store.Status(err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("no account named %q", username)
	}
	return nil
}
