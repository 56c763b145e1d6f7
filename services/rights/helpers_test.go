package rights_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/patronfed/patronfed/pgtest"
	"github.com/patronfed/patronfed/testserver"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var bg = context.Background()

func patronID(t *testing.T, s *testserver.Server, card string) string {
	t.Helper()
	var id string
	if err := s.DB.QueryRow(bg, `SELECT patron_id::text FROM cards WHERE card_number = $1`, card).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

func exec(t *testing.T, s *testserver.Server, sql string, args ...any) {
	t.Helper()
	if _, err := s.DB.Exec(bg, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// rest sends a JSON request to the gateway with extra headers and
// decodes the JSON answer.
func rest(t *testing.T, s *testserver.Server, method, path, token string, body any, headers map[string]string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.HTTPURL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// patronLoginFrom signs a patron in through the gateway as a client at ip.
func patronLoginFrom(t *testing.T, s *testserver.Server, card, ip string) string {
	t.Helper()
	code, out := rest(t, s, "POST", "/v1/auth/patron-login", "", map[string]string{"cardNumber": card, "pin": "1234"},
		map[string]string{"X-Forwarded-For": ip})
	if code != 200 {
		t.Fatalf("patron login %s: %d %v", card, code, out)
	}
	return out["token"].(string)
}

// list returns m[key] as a list of objects.
func list(t *testing.T, m map[string]any, key string) []map[string]any {
	t.Helper()
	raw, ok := m[key].([]any)
	if !ok {
		t.Fatalf("%s is %T (%v), want a list", key, m[key], m[key])
	}
	out := make([]map[string]any, len(raw))
	for i, r := range raw {
		out[i], _ = r.(map[string]any)
	}
	return out
}

func obj(t *testing.T, m map[string]any, key string) map[string]any {
	t.Helper()
	o, ok := m[key].(map[string]any)
	if !ok {
		t.Fatalf("%s is %T (%v), want an object", key, m[key], m[key])
	}
	return o
}
