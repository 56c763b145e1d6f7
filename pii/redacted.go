package pii

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
)

// RedactedText is what a [Redacted] value prints, logs and marshals as.
const RedactedText = "[redacted]"

// Redacted carries a sensitive value (e.g. a national identifier) through
// code without letting it leak into logs, errors or responses. Every way of
// rendering it — String, GoString, every fmt verb, MarshalJSON, MarshalText,
// slog's LogValue — yields "[redacted]". Only [Redacted.Reveal] returns the
// value.
//
// The value is held inside a closure rather than a string field, so
// reflection-based printers (fmt on a struct with an unexported Redacted
// field, %#v, debug dumpers) cannot reach it either; they see a function
// pointer. Redacted is deliberately not comparable with ==: compare
// Reveal() results, ideally with crypto/subtle, or compare blind indexes.
//
// The zero value is an empty secret. Redacted values are immutable.
type Redacted struct {
	reveal func() string
}

// NewRedacted wraps s.
func NewRedacted(s string) Redacted {
	return Redacted{reveal: func() string { return s }}
}

// Reveal returns the wrapped value. Use it only where the value must leave
// the wrapper: sealing, blind indexing, an authorised response.
func (r Redacted) Reveal() string {
	if r.reveal == nil {
		return ""
	}
	return r.reveal()
}

// IsZero reports whether the wrapped value is empty.
func (r Redacted) IsZero() bool { return r.Reveal() == "" }

// String implements fmt.Stringer.
func (Redacted) String() string { return RedactedText }

// GoString implements fmt.GoStringer.
func (Redacted) GoString() string { return RedactedText }

// Format implements fmt.Formatter for every verb (%v, %+v, %#v, %s, %q, %x, ...).
func (Redacted) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(RedactedText)) }

// LogValue implements slog.LogValuer.
func (Redacted) LogValue() slog.Value { return slog.StringValue(RedactedText) }

// MarshalJSON implements json.Marshaler.
func (Redacted) MarshalJSON() ([]byte, error) { return json.Marshal(RedactedText) }

// MarshalText implements encoding.TextMarshaler (map keys, XML, ...).
func (Redacted) MarshalText() ([]byte, error) { return []byte(RedactedText), nil }

// UnmarshalJSON accepts a JSON string (or null, giving the zero value), so
// request bodies can decode an identifier straight into a Redacted field.
// Its error never contains the input.
func (r *Redacted) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*r = Redacted{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New("pii: Redacted: want a JSON string")
	}
	*r = NewRedacted(s)
	return nil
}
