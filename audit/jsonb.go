package audit

import (
	"bytes"
	"slices"
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
	// A byte-level parser rather than encoding/json into any: decoding into
	// maps and interfaces was most of the cost (3 % of the server's CPU).
	p := jsonbParser{s: raw, out: make([]byte, 0, 2*len(raw))}
	v, ok := p.value()
	if !ok {
		return "", false
	}
	if p.skipSpace(); p.i != len(p.s) {
		return "", false // trailing data
	}
	return string(v), true
}

// jsonbParser reads JSON without \u escapes or numbers (jsonbText declines
// those) and renders it in jsonb's output form. Every value is rendered by
// appending to out and returned as a slice of it; a container appends its
// own rendering after its children's, which stay as they are. Since bytes
// are only ever appended, a returned slice stays valid when out grows (it
// keeps the old array). Keys and values of open objects and arrays wait on
// two stacks shared by every level.
type jsonbParser struct {
	s       []byte
	i       int
	out     []byte
	members []jsonbMember
	elems   [][]byte
}

type jsonbMember struct{ key, value []byte }

func (p *jsonbParser) skipSpace() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// next skips white space and returns the next byte (0 at the end).
func (p *jsonbParser) next() byte {
	p.skipSpace()
	if p.i >= len(p.s) {
		return 0
	}
	return p.s[p.i]
}

var jsonbLiterals = [...][]byte{[]byte("true"), []byte("false"), []byte("null")}

func (p *jsonbParser) value() ([]byte, bool) {
	switch p.next() {
	case '{':
		return p.object()
	case '[':
		return p.array()
	case '"':
		s, ok := p.str()
		if !ok {
			return nil, false
		}
		start := len(p.out)
		p.out = appendJSONBString(p.out, s)
		return p.out[start:], true
	}
	for _, lit := range jsonbLiterals {
		if bytes.HasPrefix(p.s[p.i:], lit) {
			p.i += len(lit)
			return lit, true
		}
	}
	return nil, false // a number (numeric_out's form is not reproduced) or garbage
}

func (p *jsonbParser) array() ([]byte, bool) {
	p.i++ // [
	base := len(p.elems)
	defer func() { p.elems = p.elems[:base] }()
	if p.next() == ']' {
		p.i++
	} else {
		for {
			v, ok := p.value()
			if !ok {
				return nil, false
			}
			p.elems = append(p.elems, v)
			c := p.next()
			p.i++
			if c == ']' {
				break
			}
			if c != ',' {
				return nil, false
			}
		}
	}
	start := len(p.out)
	p.out = append(p.out, '[')
	for i, e := range p.elems[base:] {
		if i > 0 {
			p.out = append(p.out, ", "...)
		}
		p.out = append(p.out, e...)
	}
	p.out = append(p.out, ']')
	return p.out[start:], true
}

func (p *jsonbParser) object() ([]byte, bool) {
	p.i++ // {
	base := len(p.members)
	defer func() { p.members = p.members[:base] }()
	if p.next() == '}' {
		p.i++
	} else {
		for {
			if p.next() != '"' {
				return nil, false
			}
			k, ok := p.str()
			if !ok || p.next() != ':' {
				return nil, false
			}
			p.i++
			v, ok := p.value()
			if !ok {
				return nil, false
			}
			p.members = append(p.members, jsonbMember{k, v})
			c := p.next()
			p.i++
			if c == '}' {
				break
			}
			if c != ',' {
				return nil, false
			}
		}
	}
	members := p.members[base:]
	// Keys by length, then bytewise; of a repeated key the last value
	// stays (a stable sort keeps the repeats in input order).
	slices.SortStableFunc(members, func(a, b jsonbMember) int {
		if len(a.key) != len(b.key) {
			return len(a.key) - len(b.key)
		}
		return bytes.Compare(a.key, b.key)
	})
	start := len(p.out)
	p.out = append(p.out, '{')
	written := 0
	for i, m := range members {
		if i+1 < len(members) && bytes.Equal(members[i+1].key, m.key) {
			continue
		}
		if written > 0 {
			p.out = append(p.out, ", "...)
		}
		p.out = appendJSONBString(p.out, m.key)
		p.out = append(p.out, ": "...)
		p.out = append(p.out, m.value...)
		written++
	}
	p.out = append(p.out, '}')
	return p.out[start:], true
}

// str reads a JSON string at p.i (an opening quote) and returns its value:
// a slice of the input when it has no escapes, else a new slice.
func (p *jsonbParser) str() ([]byte, bool) {
	p.i++ // "
	start := p.i
	for p.i < len(p.s) { // fast path: no escapes
		c := p.s[p.i]
		if c == '"' {
			p.i++
			return p.s[start : p.i-1], true
		}
		if c == '\\' || c < 0x20 {
			break
		}
		p.i++
	}
	out := append([]byte(nil), p.s[start:p.i]...)
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			p.i++
			return out, true
		case c < 0x20:
			return nil, false // raw control characters are not JSON
		case c == '\\':
			if p.i+1 >= len(p.s) {
				return nil, false
			}
			e := jsonUnescape(p.s[p.i+1])
			if e == 0 {
				return nil, false // includes \u, declined earlier
			}
			out = append(out, e)
			p.i += 2
		default:
			out = append(out, c)
			p.i++
		}
	}
	return nil, false
}

// jsonUnescape is the byte that the escape \c stands for, or 0.
func jsonUnescape(c byte) byte {
	switch c {
	case '"', '\\', '/':
		return c
	case 'b':
		return '\b'
	case 'f':
		return '\f'
	case 'n':
		return '\n'
	case 'r':
		return '\r'
	case 't':
		return '\t'
	}
	return 0
}

// appendJSONBString appends s as a jsonb string literal: only '"', '\\',
// \b \f \n \r \t and other control characters (as \u00xx) are escaped.
func appendJSONBString(b []byte, s []byte) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] >= 0x20 && s[i] != '"' && s[i] != '\\' {
			i++
		}
		b = append(b, s[:i]...)
		if i == len(s) {
			break
		}
		switch c := s[i]; c {
		case '"':
			b = append(b, `\"`...)
		case '\\':
			b = append(b, `\\`...)
		case '\b':
			b = append(b, `\b`...)
		case '\f':
			b = append(b, `\f`...)
		case '\n':
			b = append(b, `\n`...)
		case '\r':
			b = append(b, `\r`...)
		case '\t':
			b = append(b, `\t`...)
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		s = s[i+1:]
	}
	return append(b, '"')
}
