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
	if !document && !national {
		return Identifiers{}, nil
	}
	set, err := LoadSealed(ctx, q, []string{patronID})
	if err != nil {
		return Identifiers{}, err
	}
	return set.Open(kr, patronID, document, national)
}

// SealedSet holds the sealed identifiers of several patrons, read in one
// query (a page of search results); Open decrypts one patron's.
type SealedSet map[string][]sealedIdentifier

// LoadSealed reads the sealed identifiers of patronIDs without decrypting
// them.
func LoadSealed(ctx context.Context, q Querier, patronIDs []string) (SealedSet, error) {
	set := SealedSet{}
	if len(patronIDs) == 0 {
		return set, nil
	}
	rows, err := q.Query(ctx, `SELECT patron_id::text, kind, key_id, ciphertext FROM patron_identifiers
		WHERE patron_id = ANY($1::uuid[])`, patronIDs)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var si sealedIdentifier
		if err := rows.Scan(&id, &si.kind, &si.keyID, &si.ciphertext); err != nil {
			return nil, err
		}
		set[id] = append(set[id], si)
	}
	return set, rows.Err()
}

// Open decrypts the ID document number (if document) and national
// identifiers (if national) of patronID.
func (s SealedSet) Open(kr *pii.Keyring, patronID string, document, national bool) (Identifiers, error) {
	return openSealed(kr, patronID, s[patronID], document, national)
}

func openSealed(kr *pii.Keyring, patronID string, sealed []sealedIdentifier, document, national bool) (Identifiers, error) {
	var out Identifiers
	if !document && !national {
		return out, nil
	}
	byKind := map[string]pii.Redacted{}
	for _, s := range sealed {
		if s.kind == pii.KindIDDocument && !document || s.kind != pii.KindIDDocument && !national {
			continue
		}
		pt, err := kr.Open(s.ciphertext, s.keyID, pii.AAD(patronID, s.kind))
		if err != nil {
			return out, errDecrypt
		}
		byKind[s.kind] = pii.NewRedacted(string(pt))
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
