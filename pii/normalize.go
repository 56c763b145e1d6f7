package pii

import (
	"strings"
	"unicode"
)

// Kinds of protected identifiers. The kind is part of the blind index (so
// equal strings of different kinds never match) and belongs in the AAD.
const (
	KindPersonalIdentityNumber = "personal_identity_number" // e.g. Swedish personnummer
	KindCoordinationNumber     = "coordination_number"      // e.g. Swedish samordningsnummer
	KindLMANumber              = "lma_number"               // asylum-seeker (LMA) number
	KindSSN                    = "ssn"                      // social security number
	KindIDDocument             = "id_document"              // identity-document number
)

// IsKind reports whether kind is one of the identifier kinds above.
func IsKind(kind string) bool {
	switch kind {
	case KindPersonalIdentityNumber, KindCoordinationNumber, KindLMANumber, KindSSN, KindIDDocument:
		return true
	}
	return false
}

// Normalize returns the canonical form of value used for the blind index.
//
// For the identifier kinds (see [IsKind]) it trims, upper-cases and removes
// all white space, dashes (ASCII and Unicode), '+' and '.', so that
// "19121212-1212", " 191212 121212 " and "191212121212" are equal, and
// "ab 123.456" equals "AB123456".
//
// It does NOT add or infer century digits: "121212-1212" (10 digits) and
// "19121212-1212" (12 digits) stay different, because the century is not
// reliably derivable from the short form. Callers that want such values to
// match must store and look up one form consistently (the 12-digit form is
// recommended). Note that because '+' is stripped, the 10-digit forms
// "121212+1212" (born 1912) and "121212-1212" (born 2012) are equal: one more
// reason to store the 12-digit form.
//
// For any other kind, Normalize only trims surrounding white space.
func Normalize(kind, value string) string {
	value = strings.TrimSpace(value)
	if !IsKind(kind) {
		return value
	}
	return strings.Map(func(r rune) rune {
		switch {
		case unicode.IsSpace(r), r == '+', r == '.', r == '-',
			r >= '\u2010' && r <= '\u2015', // hyphen, non-breaking hyphen, figure dash, en dash, em dash, horizontal bar
			r == '\u2212',                  // minus sign
			r == '\u00AD':                  // soft hyphen
			return -1
		}
		return unicode.ToUpper(r)
	}, value)
}
