package patron

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/patronfed/patronfed/pii"
	"github.com/patronfed/patronfed/policy"
)

// View is everything a read of one patron needs, from one statement (one
// snapshot, one round trip): what the policy decides on, the record with
// its cards, and the sealed identifiers, which stay sealed until Open is
// asked for the groups the decision returns.
type View struct {
	Resource policy.Resource
	Record   Record
	sealed   []sealedIdentifier
}

type sealedIdentifier struct {
	kind, keyID string
	ciphertext  []byte
}

// viewSQL is LoadResources, Load (record and cards) and the identifiers'
// ciphertexts of one patron in one statement.
const viewSQL = `SELECT ` + recordCols + `,
	  ARRAY(SELECT c.library_id::text FROM consents c WHERE c.patron_id = p.id ORDER BY c.library_id),
	  ARRAY(SELECT DISTINCT l.lending_library_id::text FROM loans l
	        WHERE l.patron_id = p.id AND l.returned_at IS NULL ORDER BY 1),
	  cd.numbers, cd.active, cd.issued, cd.revoked, pi.kinds, pi.keys, pi.cts
	FROM patrons p
	CROSS JOIN LATERAL (SELECT
	    coalesce(array_agg(card_number ORDER BY active DESC, issued_at DESC, card_number), '{}') AS numbers,
	    coalesce(array_agg(active ORDER BY active DESC, issued_at DESC, card_number), '{}') AS active,
	    coalesce(array_agg(issued_at ORDER BY active DESC, issued_at DESC, card_number), '{}') AS issued,
	    coalesce(array_agg(revoked_at ORDER BY active DESC, issued_at DESC, card_number), '{}') AS revoked
	  FROM cards WHERE patron_id = p.id) cd
	CROSS JOIN LATERAL (SELECT coalesce(array_agg(kind), '{}') AS kinds, coalesce(array_agg(key_id), '{}') AS keys,
	    coalesce(array_agg(ciphertext), '{}') AS cts
	  FROM patron_identifiers WHERE patron_id = $1) pi
	WHERE p.id = $1`

// LoadView reads patron id in one statement; a NotFound status if there is
// no such patron. It sees exactly what LoadResource, Load and
// LoadIdentifiers would see together in one snapshot.
func LoadView(ctx context.Context, q Querier, id string) (View, error) {
	var v View
	r := &v.Record
	var gName *string
	var g Guardian
	var numbers []string
	var active []bool
	var issued []time.Time
	var revoked []*time.Time
	var kinds, keys []string
	var cts [][]byte
	err := q.QueryRow(ctx, viewSQL, id).Scan(&r.ID, &r.HomeLibraryID, &r.Version,
		&r.FirstName, &r.LastName, &r.BirthDate,
		&r.PermanentAddress, &r.ContactAddress,
		&r.Email, &r.Phone, &r.AcademicTitles, &r.OptionalDataConsent,
		&r.Category, &r.MotherTongue, &r.RegisteredAt, &r.LastActivityAt, &r.Archived,
		&gName, &g.Address, &g.Phone, &g.Email,
		&r.SpecialCategories,
		&v.Resource.ConsentLibraryIDs, &v.Resource.ActiveLoanLibraryIDs,
		&numbers, &active, &issued, &revoked, &kinds, &keys, &cts)
	if errors.Is(err, pgx.ErrNoRows) {
		return View{}, errNotFound
	}
	if err != nil {
		return View{}, err
	}
	if gName != nil {
		g.Name = *gName
		r.Guardian = &g
	}
	for i := range numbers {
		r.Cards = append(r.Cards, Card{Number: numbers[i], Active: active[i], IssuedAt: issued[i], RevokedAt: revoked[i]})
	}
	for i := range kinds {
		v.sealed = append(v.sealed, sealedIdentifier{kind: kinds[i], keyID: keys[i], ciphertext: cts[i]})
	}
	v.Resource.PatronID, v.Resource.HomeLibraryID = r.ID, r.HomeLibraryID
	v.Resource.OptionalDataConsent, v.Resource.Archived = r.OptionalDataConsent, r.Archived
	return v, nil
}

// Identifiers decrypts the ID document number (if document) and the
// national identifiers (if national), like LoadIdentifiers; callers ask
// only for the groups the access decision returns.
func (v *View) Identifiers(kr *pii.Keyring, document, national bool) (Identifiers, error) {
	return openSealed(kr, v.Record.ID, v.sealed, document, national)
}
