package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/patronfed/patronfed/pgtest"
)

// jsonbText must print exactly what PostgreSQL prints for the same
// document stored as jsonb, or decline: the row hashes depend on it.
func TestJSONBTextMatchesPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.NewDB(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)

	docs := []string{
		`{}`, `[]`, `null`, `true`, `"x"`, `{"a":1}`, `[1.50, 2]`, `{"a": "\u00e9"}`, `{"a": "\ud83d\ude00"}`,
		`{"subject":{"kind":"staff","account_id":"5a1c0f3e-0000-4000-8000-000000000001","permissions":["loan.manage","patron.read"]},"action":"patron.read","resource":{"archived":false,"consent_library_ids":[],"home_library_id":"x"}}`,
		`{"bb": 1, "a": 2, "b": 3}`, `{"a": "x", "a": "y"}`, `{"b": true, "a": {"d": [], "c": {}}}`,
		`{"s": "quote \" backslash \\ slash \/ tab \t nl \n cr \r bs \b ff \f"}`,
		`{"ü": "žluťoučký kůň", "日本": "語", "a\"b": "c"}`, "{\"a\": \"\x7f\"}",
		`{"a": 1} x`, `{"a"`, `{"a": "\u0000"}`, `  {"sp" :  [ true , false , null ] }  `,
		// Malformed: PostgreSQL refuses them, so must jsonbText.
		`{"a":}`, `["a",]`, `{"a" "b"}`, `{,}`, `{"a":"b",}`, `tru`, `nul`, `[true false]`, `{"a":"b"`, `["x`, `"\x"`, "\"tab\tin\"",
		`{"a": [], "a": {"b": "c"}, "b": null, "a": "last"}`, `[[[["deep"]]], {}]`, "\t\r\n[]\n",
	}
	rng := rand.New(rand.NewPCG(8, 8))
	for range 400 {
		docs = append(docs, randomJSON(rng, 0))
	}
	checked := 0
	for _, d := range docs {
		got, ok := jsonbText([]byte(d))
		var want string
		pgErr := conn.QueryRow(ctx, `SELECT $1::jsonb::text`, d).Scan(&want)
		switch {
		case ok && pgErr != nil:
			t.Errorf("%q: Go accepted %q, PostgreSQL refused: %v", d, got, pgErr)
		case ok && got != want:
			t.Errorf("%q:\n Go:         %s\n PostgreSQL: %s", d, got, want)
		case ok:
			checked++
		}
	}
	t.Logf("%d of %d documents rendered in Go and equal to PostgreSQL's", checked, len(docs))
	if checked < 250 {
		t.Fatalf("only %d of %d documents were rendered in Go: the fast path is not exercised", checked, len(docs))
	}
}

var jsonStrings = []string{"", "a", "bb", "Ab", "aB", "žluť", "日本", `q"uote`, `back\slash`, "tab\tnl\ncr\rbs\bff\f", "\x01ctl\x1f", "<>&", "\u2028", "€", "emoji 😀", "slash/"}

func randomJSON(rng *rand.Rand, depth int) string {
	k := rng.IntN(6)
	if depth > 3 {
		k = rng.IntN(3)
	}
	switch k {
	case 0:
		return quote(jsonStrings[rng.IntN(len(jsonStrings))])
	case 1:
		return []string{"true", "false", "null"}[rng.IntN(3)]
	case 2:
		if rng.IntN(8) == 0 {
			return fmt.Sprint(rng.IntN(100)) // declined: numbers
		}
		return `"v"`
	case 3, 4:
		var parts []string
		for range rng.IntN(5) {
			k := quote(jsonStrings[rng.IntN(len(jsonStrings))] + fmt.Sprint(rng.IntN(3)))
			parts = append(parts, k+":"+randomJSON(rng, depth+1))
		}
		return "{" + strings.Join(parts, ",") + "}"
	default:
		var parts []string
		for range rng.IntN(5) {
			parts = append(parts, randomJSON(rng, depth+1))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
}

// quote encodes s as a JSON string without HTML escaping (as the server's
// inputs are), so most strings take jsonbText's fast path.
func quote(s string) string {
	var b strings.Builder
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	_ = e.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}

// BenchmarkJSONBText renders a typical policy input (every audited read
// renders one).
func BenchmarkJSONBText(b *testing.B) {
	d := []byte(`{"subject":{"kind":"staff","account_id":"5a1c0f3e-0000-4000-8000-000000000001","library_id":"5a1c0f3e-0000-4000-8000-000000000002","permissions":["loan.manage","patron.read"]},"action":"patron.read","resource":{"patron_id":"5a1c0f3e-0000-4000-8000-000000000003","home_library_id":"5a1c0f3e-0000-4000-8000-000000000002","consent_library_ids":["5a1c0f3e-0000-4000-8000-000000000004"],"active_loan_library_ids":[],"optional_data_consent":true,"archived":false}}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := jsonbText(d); !ok {
			b.Fatal("declined")
		}
	}
}
