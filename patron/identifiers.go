package patron

import (
	"context"
	"errors"

	"github.com/patronfed/patronfed/pii"
)

// NationalKinds are the kinds of national identifier, in display order.
var NationalKinds = []string{
	pii.KindPersonalIdentityNumber, pii.KindCoordinationNumber, pii.KindLMANumber, pii.KindSSN,
}

// IsNationalKind reports whether kind is a national identifier kind.
func IsNationalKind(kind string) bool {
	return kind != pii.KindIDDocument && pii.IsKind(kind)
}

// errDecrypt hides which identifier failed and why.
var errDecrypt = errors.New("patron: an identifier could not be decrypted")

// LoadIdentifiers decrypts the patron's ID document number (if document)
// and national identifiers (if national). Callers ask only for the groups
// the access decision returns.
func LoadIdentifiers(ctx context.Context, q Querier, kr *pii.Keyring, patronID string, document, national bool) (Identifiers, error) {
	var out Identifiers
	if !document && !national {
		return out, nil
	}
	rows, err := q.Query(ctx, `SELECT kind, ciphertext, key_id FROM patron_identifiers WHERE patron_id = $1`, patronID)
	if err != nil {
		return out, err
	}
	defer rows.Close()
	byKind := map[string]pii.Redacted{}
	for rows.Next() {
		var kind, keyID string
		var ct []byte
		if err := rows.Scan(&kind, &ct, &keyID); err != nil {
			return out, err
		}
		if kind == pii.KindIDDocument && !document || kind != pii.KindIDDocument && !national {
			continue
		}
		pt, err := kr.Open(ct, keyID, pii.AAD(patronID, kind))
		if err != nil {
			return out, errDecrypt
		}
		byKind[kind] = pii.NewRedacted(string(pt))
	}
	if err := rows.Err(); err != nil {
		return out, err
	}
	out.IDDocument = byKind[pii.KindIDDocument]
	for _, k := range NationalKinds {
		if v, ok := byKind[k]; ok {
			out.National = append(out.National, NationalID{Kind: k, Value: v})
		}
	}
	return out, nil
}

// putIdentifier seals value under (patron, kind) and stores it with its key
// id and blind index, replacing any previous value of the kind. An empty
// value deletes it.
func putIdentifier(ctx context.Context, q Querier, kr *pii.Keyring, patronID, kind string, value pii.Redacted) error {
	if value.IsZero() {
		_, err := q.Exec(ctx, `DELETE FROM patron_identifiers WHERE patron_id = $1 AND kind = $2`, patronID, kind)
		return err
	}
	v := value.Reveal()
	ct, keyID, err := kr.Seal([]byte(v), pii.AAD(patronID, kind))
	if err != nil {
		return err
	}
	_, err = q.Exec(ctx, `
		INSERT INTO patron_identifiers (patron_id, kind, ciphertext, key_id, blind_index) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (patron_id, kind) DO UPDATE
		SET ciphertext = EXCLUDED.ciphertext, key_id = EXCLUDED.key_id, blind_index = EXCLUDED.blind_index, created_at = now()`,
		patronID, kind, ct, keyID, kr.BlindIndex(kind, v))
	return err
}

// putNational replaces every national identifier of the patron with ids.
func putNational(ctx context.Context, q Querier, kr *pii.Keyring, patronID string, ids []NationalID) error {
	if _, err := q.Exec(ctx, `DELETE FROM patron_identifiers WHERE patron_id = $1 AND kind <> $2`, patronID, pii.KindIDDocument); err != nil {
		return err
	}
	for _, id := range ids {
		if err := putIdentifier(ctx, q, kr, patronID, id.Kind, id.Value); err != nil {
			return err
		}
	}
	return nil
}
