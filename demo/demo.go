// Package demo loads the demo consortium that `patronfed dev` serves and the
// README's examples use: three member libraries modelled on the sources of
// the privacy rules, personal staff accounts of several roles at each, an
// operator, and patrons with and without cross-library consent.
//
// Every demo account's password is Password; patrons' PIN is PIN.
package demo

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/patronfed/patronfed/auth"
	"github.com/patronfed/patronfed/pii"
	"github.com/patronfed/patronfed/store"
)

// Password of every demo staff and operator account.
const Password = "demo-password-2026"

// PIN of every demo patron.
const PIN = "1234"

// Library is a demo member library.
type Library struct{ Code, Name, Country string }

// Libraries of the demo consortium.
var Libraries = []Library{
	{"BRNO", "Knihovna Jiřího Mahena v Brně", "CZ"},
	{"SLAV", "Městská knihovna Slavonice", "CZ"},
	{"KORS", "Korsnäs kommunbibliotek", "FI"},
}

// Staff is a demo staff account.
type Staff struct {
	Username, Name, Library string
	Roles                   []string
}

// StaffAccounts of the demo consortium: usernames are <library>.<role>.
var StaffAccounts = []Staff{
	{"brno.circ", "Petra Circulation (Brno)", "BRNO", []string{"circulation"}},
	{"brno.reg", "Jan Registrar (Brno)", "BRNO", []string{"registrar"}},
	{"brno.manager", "Eva Manager (Brno)", "BRNO", []string{"manager", "special_category"}},
	{"slav.circ", "Tomáš Circulation (Slavonice)", "SLAV", []string{"circulation"}},
	{"slav.reg", "Marie Registrar (Slavonice)", "SLAV", []string{"registrar"}},
	{"slav.manager", "Karel Manager (Slavonice)", "SLAV", []string{"manager"}},
	{"kors.circ", "Anna Cirkulation (Korsnäs)", "KORS", []string{"circulation"}},
	{"kors.reg", "Erik Registrator (Korsnäs)", "KORS", []string{"registrar", "special_category"}},
	{"kors.manager", "Sofia Chef (Korsnäs)", "KORS", []string{"manager"}},
}

// Operator is the demo consortium operator's username.
const Operator = "operator"

// Load creates the demo consortium unless it is already there (a second
// `patronfed dev` reuses the data).
func Load(ctx context.Context, db *pgxpool.Pool, keyring *pii.Keyring, p auth.Params) (loaded bool, err error) {
	var n int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM libraries WHERE code = 'BRNO'`).Scan(&n); err != nil {
		return false, err
	}
	if n > 0 {
		return false, nil
	}
	hash, err := auth.HashSecret(Password, p)
	if err != nil {
		return false, err
	}
	pinHash, err := auth.HashSecret(PIN, p)
	if err != nil {
		return false, err
	}
	err = store.InTx(ctx, db, pgx.TxOptions{}, func(tx pgx.Tx) error {
		libs := map[string]string{}
		for _, l := range Libraries {
			var id string
			if err := tx.QueryRow(ctx, `INSERT INTO libraries (code, name, country) VALUES ($1, $2, $3) RETURNING id::text`,
				l.Code, l.Name, l.Country).Scan(&id); err != nil {
				return fmt.Errorf("library %s: %w", l.Code, err)
			}
			libs[l.Code] = id
		}
		if _, err := tx.Exec(ctx, `INSERT INTO accounts (kind, username, display_name, password_hash)
			VALUES ('operator', $1, 'Consortium Operator', $2)`, Operator, hash); err != nil {
			return fmt.Errorf("operator: %w", err)
		}
		for _, s := range StaffAccounts {
			if _, err := tx.Exec(ctx, `INSERT INTO accounts (kind, username, display_name, library_id, roles, password_hash)
				VALUES ('staff', $1, $2, $3, $4, $5)`, s.Username, s.Name, libs[s.Library], s.Roles, hash); err != nil {
				return fmt.Errorf("staff %s: %w", s.Username, err)
			}
		}
		if err := loadPatrons(ctx, tx, libs, keyring, pinHash); err != nil {
			return err
		}
		return loadLoans(ctx, tx, libs)
	})
	return err == nil, err
}
