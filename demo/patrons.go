package demo

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/patronfed/patronfed/consent"
	"github.com/patronfed/patronfed/patron"
	"github.com/patronfed/patronfed/pii"
)

// Patron is a demo patron: the card to log in with (PIN is PIN), home
// library code, and which libraries it consented to share with.
type Patron struct {
	Card, Home string
	// ShareWith: library codes the patron consented to share with.
	ShareWith []string
	// ConsentByWeb: the share consents were given in the catalogue (else at
	// the desk, recorded by the home library's registrar).
	ConsentByWeb bool
	Optional     bool
	Fields       patron.Fields
}

// Patrons of the demo consortium. The README's examples use them:
//
//   - B0001 (BRNO): no consent to share; optional data consent (e-mail,
//     phone); an ID document. Has an active loan at SLAV (demo loans), so
//     SLAV staff see only what handling that loan needs.
//   - B0002 (BRNO): consented to share with SLAV: SLAV staff see the
//     record, without ID document and national identifiers.
//   - B0003 (BRNO): no consent to share, no optional data: other libraries
//     are denied.
//   - B0004 (BRNO): a minor (under BRNO's minor age 15) with a guardian.
//   - K0001 (KORS): registered for accessible media (special category: only
//     staff with patron.special_category see it) and a national identifier.
//   - K0002 (KORS): a 15-year-old, a minor at KORS, whose minor age is 18.
//   - S0001 (SLAV): consented in the catalogue to share with BRNO.
var Patrons = []Patron{
	{Card: "B0001", Home: "BRNO", Optional: true, Fields: patron.Fields{
		FirstName: "Jana", LastName: "Nováková", BirthDate: "1985-04-12",
		PermanentAddress: "Masarykova 12, 602 00 Brno", Email: "jana.novakova@example.cz", Phone: "+420 601 123 456",
		Category: "adult", MotherTongue: "cs", IDDocument: pii.NewRedacted("205432781"),
	}},
	{Card: "B0002", Home: "BRNO", ShareWith: []string{"SLAV"}, Optional: true, Fields: patron.Fields{
		FirstName: "Petr", LastName: "Svoboda", BirthDate: "1979-09-30",
		PermanentAddress: "Údolní 53, 602 00 Brno", ContactAddress: "Nádražní 4, 378 81 Slavonice",
		Email: "petr.svoboda@example.cz", AcademicTitles: "Ing.",
		Category: "adult", MotherTongue: "cs", IDDocument: pii.NewRedacted("204518833"),
	}},
	{Card: "B0003", Home: "BRNO", Fields: patron.Fields{
		FirstName: "Lucie", LastName: "Dvořáková", BirthDate: "1992-01-20",
		PermanentAddress: "Kounicova 7, 602 00 Brno", Category: "student", MotherTongue: "sk",
	}},
	{Card: "B0004", Home: "BRNO", Fields: patron.Fields{
		FirstName: "Tomáš", LastName: "Novák", BirthDate: "2014-06-01",
		PermanentAddress: "Masarykova 12, 602 00 Brno", Category: "child", MotherTongue: "cs",
		Guardian: &patron.Guardian{Name: "Jana Nováková", Address: "Masarykova 12, 602 00 Brno", Phone: "+420 601 123 456"},
	}},
	{Card: "K0001", Home: "KORS", Fields: patron.Fields{
		FirstName: "Erik", LastName: "Lindqvist", BirthDate: "1958-11-03",
		PermanentAddress: "Kyrkvägen 3, 66200 Korsnäs", Category: "adult", MotherTongue: "sv",
		NationalIDs:       []patron.NationalID{{Kind: pii.KindPersonalIdentityNumber, Value: pii.NewRedacted("031158-999X")}},
		SpecialCategories: []string{patron.SpecialAccessibleMedia},
	}},
	{Card: "K0002", Home: "KORS", Fields: patron.Fields{
		FirstName: "Aino", LastName: "Mäkinen", BirthDate: "2010-05-15",
		PermanentAddress: "Strandvägen 9, 66200 Korsnäs", Category: "child", MotherTongue: "fi",
		Guardian: &patron.Guardian{Name: "Liisa Mäkinen", Address: "Strandvägen 9, 66200 Korsnäs", Email: "liisa.makinen@example.fi"},
	}},
	{Card: "S0001", Home: "SLAV", ShareWith: []string{"BRNO"}, ConsentByWeb: true, Fields: patron.Fields{
		FirstName: "Marie", LastName: "Horáková", BirthDate: "1966-07-07",
		PermanentAddress: "Horní náměstí 1, 378 81 Slavonice", Category: "senior", MotherTongue: "cs",
	}},
}

// demoRegistered is when the demo patrons registered: fixed, so the demo
// is the same on every run.
var demoRegistered = time.Date(2025, 9, 1, 9, 0, 0, 0, time.UTC)

// loadPatrons adds the demo patrons through the patron package, so their
// identifiers are sealed exactly as registration seals them. libs maps
// library code to id. KORS counts patrons under 18 as minors (Legimus).
func loadPatrons(ctx context.Context, tx pgx.Tx, libs map[string]string, keyring *pii.Keyring, pinHash string) error {
	if _, err := tx.Exec(ctx, `UPDATE library_settings SET minor_age = 18 WHERE library_id = $1`, libs["KORS"]); err != nil {
		return fmt.Errorf("KORS minor age: %w", err)
	}
	for _, d := range Patrons {
		var registrar string
		if err := tx.QueryRow(ctx, `SELECT id::text FROM accounts WHERE username = $1`,
			strings.ToLower(d.Home)+".reg").Scan(&registrar); err != nil {
			return fmt.Errorf("registrar of %s: %w", d.Home, err)
		}
		id, err := patron.Register(ctx, tx, keyring, &patron.Registration{
			Fields: d.Fields, HomeLibraryID: libs[d.Home], CardNumber: d.Card, PINHash: pinHash,
			OptionalDataConsent: d.Optional, At: demoRegistered,
		})
		if err != nil {
			return fmt.Errorf("patron %s: %w", d.Card, err)
		}
		desk := consent.Actor{Kind: "staff", ID: registrar, LibraryID: libs[d.Home], Method: consent.MethodInPerson}
		if d.Optional {
			c := consent.Change{PatronID: id, Scope: consent.ScopeOptionalData, Grant: true}
			if err := consent.LogEvent(ctx, tx, c, desk, demoRegistered); err != nil {
				return fmt.Errorf("patron %s optional data consent: %w", d.Card, err)
			}
		}
		actor := desk
		if d.ConsentByWeb {
			actor = consent.Actor{Kind: "patron", ID: id, Method: consent.MethodWeb}
		}
		for _, code := range d.ShareWith {
			c := consent.Change{PatronID: id, Scope: consent.ScopeShare, LibraryID: libs[code], Grant: true}
			if _, err := consent.Apply(ctx, tx, c, actor, demoRegistered.Add(time.Hour)); err != nil {
				return fmt.Errorf("patron %s consent to %s: %w", d.Card, code, err)
			}
		}
	}
	return nil
}
