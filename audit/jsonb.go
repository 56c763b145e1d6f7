package audit

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"unicode/utf8"
)

// jsonbText renders raw as PostgreSQL prints it after storing it as jsonb
// (input::text), which is what a row's hash covers, so that the writer need
// not ask the database. It handles the documents the server writes —
// objects, arrays, strings, booleans and null — and reports false for
// anything whose jsonb form it does not reproduce exactly (numbers, \u
// escapes, invalid UTF-8, malformed JSON); the writer then asks the
// database. TestJSONBTextMatchesPostgres compares it with PostgreSQL.
//
// jsonb's output: object keys sorted by length, then bytewise, a repeated
// key keeps its last value; ", " between elements and ": " after a key;
// strings escape only '"', '\\', \b \f \n \r \t and other control
// characters (as \u00xx).
func jsonbText(raw []byte) (string, bool) {
	if bytes.Contains(raw, []byte(`\u`)) || !utf8.Valid(raw) {
		return "", false
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return "", false
	}
	if _, err := d.Token(); err == nil {
		return "", false // trailing data
	}
	var b strings.Builder
	if !writeJSONB(&b, v) {
		return "", false
	}
	return b.String(), true
}

func writeJSONB(b *strings.Builder, v any) bool {
	switch v := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		if v {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case string:
		writeJSONBString(b, v)
	case []any:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteString(", ")
			}
			if !writeJSONB(b, e) {
				return false
			}
		}
		b.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b string) int {
			if len(a) != len(b) {
				return len(a) - len(b)
			}
			return strings.Compare(a, b)
		})
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			writeJSONBString(b, k)
			b.WriteString(": ")
			if !writeJSONB(b, v[k]) {
				return false
			}
		}
		b.WriteByte('}')
	default: // json.Number: numeric_out's form is not reproduced here
		return false
	}
	return true
}

func writeJSONBString(b *strings.Builder, s string) {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if c < 0x20 {
				b.WriteString(`\u00`)
				b.WriteByte(hex[c>>4])
				b.WriteByte(hex[c&0xf])
			} else {
				b.WriteByte(c)
			}
		}
	}
	b.WriteByte('"')
}
