package auth

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 500_000_000, time.UTC)

func seed(b byte) []byte {
	s := make([]byte, ed25519.SeedSize)
	for i := range s {
		s[i] = b
	}
	return s
}

func spec(kid string, b byte) string { return kid + ":" + base64.StdEncoding.EncodeToString(seed(b)) }

func mustSigner(t testing.TB, s string) *Signer {
	t.Helper()
	sg, err := ParseSigningKeys(s)
	if err != nil {
		t.Fatalf("ParseSigningKeys: %v", err)
	}
	return sg
}

func TestTokenRoundTrip(t *testing.T) {
	s := mustSigner(t, spec("k1", 1))
	for _, kind := range []Kind{KindStaff, KindOperator, KindPatron} {
		tok, c, err := s.Issue(kind, "0b9f5f4e-2d4e-4a57-9a51-3f0f6a1f2c11", 15*time.Minute, t0)
		if err != nil {
			t.Fatal(err)
		}
		if c.Kind != kind || c.Subject != "0b9f5f4e-2d4e-4a57-9a51-3f0f6a1f2c11" || c.TokenID == "" {
			t.Fatalf("claims %+v", c)
		}
		if !c.IssuedAt.Equal(t0.Truncate(time.Second)) || !c.ExpiresAt.Equal(t0.Add(15*time.Minute).Truncate(time.Second)) {
			t.Fatalf("times %+v", c)
		}
		got, err := s.Verify(tok, t0.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if got != c {
			t.Fatalf("Verify = %+v, Issue = %+v", got, c)
		}
		hdr, body := decodeParts(t, tok)
		if hdr["alg"] != "EdDSA" || hdr["kid"] != "k1" {
			t.Fatalf("header %v", hdr)
		}
		if body["iss"] != "patronfed" || fmt.Sprint(body["aud"]) != "[patronfed]" || body["kind"] != string(kind) {
			t.Fatalf("body %v", body)
		}
	}
	a, ca, _ := s.Issue(KindPatron, "p", time.Minute, t0)
	b, cb, _ := s.Issue(KindPatron, "p", time.Minute, t0)
	if a == b || ca.TokenID == cb.TokenID {
		t.Fatal("token ids not random")
	}
}

func TestTokenExpiry(t *testing.T) {
	s := mustSigner(t, spec("k1", 1))
	tok, c, _ := s.Issue(KindStaff, "u", 10*time.Minute, t0)
	if _, err := s.Verify(tok, c.ExpiresAt.Add(-time.Second)); err != nil {
		t.Fatalf("just before exp: %v", err)
	}
	if _, err := s.Verify(tok, c.ExpiresAt.Add(Leeway-time.Millisecond)); err != nil {
		t.Fatalf("within leeway: %v", err)
	}
	for _, at := range []time.Time{c.ExpiresAt.Add(Leeway), c.ExpiresAt.Add(time.Hour)} {
		if _, err := s.Verify(tok, at); !errors.Is(err, ErrExpiredToken) {
			t.Fatalf("at %v: %v", at, err)
		}
	}
	// Issued in the future (beyond leeway).
	if _, err := s.Verify(tok, c.IssuedAt.Add(-Leeway-time.Second)); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("before iat: %v", err)
	}
	if _, err := s.Verify(tok, c.IssuedAt.Add(-Leeway+time.Second)); err != nil {
		t.Fatalf("iat within leeway: %v", err)
	}
	// An expired token with a bad signature is invalid, not expired.
	if _, err := s.Verify(tok[:len(tok)-4]+"AAAA", c.ExpiresAt.Add(time.Hour)); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("expired+tampered: %v", err)
	}
}

func TestIssueRejects(t *testing.T) {
	s := mustSigner(t, spec("k1", 1))
	cases := []struct {
		kind Kind
		sub  string
		ttl  time.Duration
	}{
		{"admin", "u", time.Minute},
		{"", "u", time.Minute},
		{KindStaff, "", time.Minute},
		{KindStaff, strings.Repeat("u", 257), time.Minute},
		{KindStaff, "u", 0},
		{KindStaff, "u", -time.Minute},
		{KindStaff, "u", time.Millisecond},
		{KindStaff, "u", MaxTTL + time.Second},
	}
	for _, c := range cases {
		if _, _, err := s.Issue(c.kind, c.sub, c.ttl, t0); err == nil {
			t.Errorf("Issue(%q, %d bytes, %v) succeeded", c.kind, len(c.sub), c.ttl)
		}
	}
}

func TestTokenTamper(t *testing.T) {
	s := mustSigner(t, spec("k1", 1))
	tok, _, _ := s.Issue(KindPatron, "patron-1", time.Hour, t0)
	now := t0.Add(time.Minute)
	parts := strings.Split(tok, ".")

	// Change the payload (escalate kind) and keep the signature.
	_, body := decodeParts(t, tok)
	body["kind"] = "operator"
	forged := parts[0] + "." + encodeJSON(t, body) + "." + parts[2]
	// Flip bits in each part.
	var flips []string
	for i := range tok {
		if tok[i] == '.' {
			continue
		}
		b := []byte(tok)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		flips = append(flips, string(b))
	}
	bad := append([]string{
		forged,
		parts[0] + "." + parts[1] + ".",
		parts[0] + "." + parts[1],
		tok + ".",
		tok + "=",
		"",
		"garbage",
		strings.Repeat("A", MaxTokenLen+1),
	}, flips...)
	for _, b := range bad {
		if _, err := s.Verify(b, now); !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("tampered token %q accepted or wrong error: %v", b, err)
		}
	}
	// Another signer's key with the same kid.
	other := mustSigner(t, spec("k1", 2))
	tok2, _, _ := other.Issue(KindPatron, "patron-1", time.Hour, t0)
	if _, err := s.Verify(tok2, now); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("foreign key: %v", err)
	}
}

func TestAlgConfusion(t *testing.T) {
	s := mustSigner(t, spec("k1", 1))
	now := t0.Add(time.Minute)
	claims := jwtClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: Issuer, Subject: "u", Audience: jwt.ClaimStrings{Audience}, ID: "x",
			IssuedAt: jwt.NewNumericDate(t0), ExpiresAt: jwt.NewNumericDate(t0.Add(time.Hour)),
		},
		Kind: KindOperator,
	}
	pub := ed25519.NewKeyFromSeed(seed(1)).Public().(ed25519.PublicKey)

	// HS256 keyed with the public key (classic confusion) and with a guess.
	for _, key := range [][]byte{pub, []byte("patronfed"), seed(1)} {
		tk := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
		tk.Header["kid"] = "k1"
		str, err := tk.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Verify(str, now); !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("HS256 accepted: %v", err)
		}
	}
	// alg none.
	tk := jwt.NewWithClaims(jwt.SigningMethodNone, claims)
	tk.Header["kid"] = "k1"
	str, err := tk.SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Verify(str, now); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("alg none accepted: %v", err)
	}
	// Hand-made header variants with a valid EdDSA signature over them are
	// impossible without the key; but headers claiming EdDSA with other casing
	// or "alg":"none" with an empty signature must fail too.
	for _, alg := range []string{"none", "None", "eddsa", "ES256", "RS256"} {
		h := encodeJSON(t, map[string]any{"alg": alg, "typ": "JWT", "kid": "k1"})
		if _, err := s.Verify(h+"."+encodeJSON(t, claims)+".", now); !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("alg %s accepted: %v", alg, err)
		}
	}
}

func TestMissingOrWrongClaims(t *testing.T) {
	s := mustSigner(t, spec("k1", 1))
	now := t0.Add(time.Minute)
	priv := ed25519.NewKeyFromSeed(seed(1))
	base := func() map[string]any {
		return map[string]any{
			"iss": Issuer, "aud": []string{Audience}, "sub": "u", "jti": "x", "kind": "staff",
			"iat": t0.Unix(), "exp": t0.Add(time.Hour).Unix(),
		}
	}
	sign := func(kid any, body map[string]any) string {
		tk := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims(body))
		if kid != nil {
			tk.Header["kid"] = kid
		}
		str, err := tk.SignedString(priv)
		if err != nil {
			t.Fatal(err)
		}
		return str
	}
	if _, err := s.Verify(sign("k1", base()), now); err != nil {
		t.Fatalf("baseline: %v", err)
	}
	if _, err := s.Verify(sign(nil, base()), now); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("missing kid: %v", err)
	}
	if _, err := s.Verify(sign(7, base()), now); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("numeric kid: %v", err)
	}
	mods := map[string]func(m map[string]any){
		"no iss":       func(m map[string]any) { delete(m, "iss") },
		"wrong iss":    func(m map[string]any) { m["iss"] = "evil" },
		"no aud":       func(m map[string]any) { delete(m, "aud") },
		"wrong aud":    func(m map[string]any) { m["aud"] = "other" },
		"extra aud":    func(m map[string]any) { m["aud"] = []string{Audience, "other"} },
		"no sub":       func(m map[string]any) { delete(m, "sub") },
		"no jti":       func(m map[string]any) { delete(m, "jti") },
		"no kind":      func(m map[string]any) { delete(m, "kind") },
		"bad kind":     func(m map[string]any) { m["kind"] = "root" },
		"no iat":       func(m map[string]any) { delete(m, "iat") },
		"no exp":       func(m map[string]any) { delete(m, "exp") },
		"exp<iat":      func(m map[string]any) { m["exp"] = t0.Add(-time.Second).Unix() },
		"too long":     func(m map[string]any) { m["exp"] = t0.Add(MaxTTL + time.Hour).Unix() },
		"nbf future":   func(m map[string]any) { m["nbf"] = t0.Add(30 * time.Minute).Unix() },
		"string exp":   func(m map[string]any) { m["exp"] = "tomorrow" },
		"kind as list": func(m map[string]any) { m["kind"] = []string{"staff"} },
	}
	for name, mod := range mods {
		m := base()
		mod(m)
		if _, err := s.Verify(sign("k1", m), now); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A single-string aud is accepted (RFC 7519 allows it).
	m := base()
	m["aud"] = Audience
	if _, err := s.Verify(sign("k1", m), now); err != nil {
		t.Errorf("string aud: %v", err)
	}
}

func TestRotation(t *testing.T) {
	old := mustSigner(t, spec("old", 1))
	tok, _, _ := old.Issue(KindStaff, "u", time.Hour, t0)
	now := t0.Add(time.Minute)

	rotated := mustSigner(t, spec("new", 2)+", "+spec("old", 1))
	if rotated.CurrentKeyID() != "new" || strings.Join(rotated.KeyIDs(), ",") != "new,old" {
		t.Fatalf("ids: %s %v", rotated.CurrentKeyID(), rotated.KeyIDs())
	}
	if _, err := rotated.Verify(tok, now); err != nil {
		t.Fatalf("old token with old key still listed: %v", err)
	}
	newTok, _, _ := rotated.Issue(KindStaff, "u", time.Hour, t0)
	if hdr, _ := decodeParts(t, newTok); hdr["kid"] != "new" {
		t.Fatalf("new tokens signed with kid %v", hdr["kid"])
	}
	if _, err := old.Verify(newTok, now); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("old signer accepted unknown kid: %v", err)
	}
	retired := mustSigner(t, spec("new", 2))
	if _, err := retired.Verify(tok, now); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("old token after key removal: %v", err)
	}
	if _, err := retired.Verify(newTok, now); err != nil {
		t.Fatalf("new token: %v", err)
	}
	// Relabelling the kid of an old token to the new key fails the signature.
	parts := strings.Split(tok, ".")
	hdr, _ := decodeParts(t, tok)
	hdr["kid"] = "new"
	if _, err := rotated.Verify(encodeJSON(t, hdr)+"."+parts[1]+"."+parts[2], now); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("relabelled kid: %v", err)
	}
}

func TestParseSigningKeysErrors(t *testing.T) {
	secret := base64.StdEncoding.EncodeToString(seed(7))
	cases := map[string]string{
		"empty":       "",
		"no colon":    secret,
		"empty id":    ":" + secret,
		"bad id":      secret + ":" + secret,
		"long id":     strings.Repeat("k", 65) + ":" + secret,
		"bad base64":  "k1:%%" + secret,
		"short seed":  "k1:" + base64.StdEncoding.EncodeToString(make([]byte, 31)),
		"long seed":   "k1:" + base64.StdEncoding.EncodeToString(make([]byte, 64)),
		"dup":         "k1:" + secret + ",k1:" + base64.StdEncoding.EncodeToString(seed(8)),
		"empty entry": "k1:" + secret + ",",
	}
	for name, c := range cases {
		_, err := ParseSigningKeys(c)
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if strings.Contains(err.Error(), secret[:16]) {
			t.Errorf("%s: error leaks key: %v", name, err)
		}
	}
	// URL-safe, unpadded seeds are accepted.
	if _, err := ParseSigningKeys("k1:" + base64.RawURLEncoding.EncodeToString(seed(0xfb))); err != nil {
		t.Fatal(err)
	}
}

func TestGenerateSigningKeySpec(t *testing.T) {
	a, b := GenerateSigningKeySpec(), GenerateSigningKeySpec()
	if a == b {
		t.Fatal("not random")
	}
	s := mustSigner(t, a)
	tok, _, err := s.Issue(KindOperator, "op", time.Minute, t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Verify(tok, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := mustSigner(t, b).Verify(tok, t0); !errors.Is(err, ErrInvalidToken) {
		t.Fatal("independent specs verify each other's tokens")
	}
}

// heapAddr matches a Go heap address as %v/%x (0xc0…, c0…) or %d
// (0xc000000000-0xc0ffffffff is 824633720832-828928688127) prints it.
var heapAddr = regexp.MustCompile(`0xc0[0-9a-f]{8}|c0[0-9a-f]{8}|82\d{10}`)

func TestSignerDoesNotPrintKeys(t *testing.T) {
	s := mustSigner(t, spec("k1", 'S'))
	priv := ed25519.NewKeyFromSeed(seed('S'))
	type holder struct {
		s  Signer
		sp *Signer
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%d", "%x"} {
		for _, v := range []any{s, *s, holder{*s, s}} {
			// The holder's pointer prints as an address, which may contain
			// "5353" by chance: addresses are not the key.
			out := heapAddr.ReplaceAllString(fmt.Sprintf(verb, v), "ADDR")
			for _, leak := range []string{"SSSS", "83 83", "5353", "0x53", fmt.Sprint([]byte(priv[32:36])), fmt.Sprintf("%x", []byte(priv[32:36]))} {
				if strings.Contains(out, leak) {
					t.Errorf("%s leaks %q: %s", verb, leak, out)
				}
			}
		}
	}
}

func decodeParts(t *testing.T, tok string) (hdr, body map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	for i, dst := range []*map[string]any{&hdr, &body} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			t.Fatal(err)
		}
	}
	return hdr, body
}

func encodeJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func BenchmarkVerifyToken(b *testing.B) {
	s := mustSigner(b, GenerateSigningKeySpec())
	tok, _, err := s.Issue(KindPatron, "0b9f5f4e-2d4e-4a57-9a51-3f0f6a1f2c11", 15*time.Minute, t0)
	if err != nil {
		b.Fatal(err)
	}
	now := t0.Add(time.Minute)
	for b.Loop() {
		if _, err := s.Verify(tok, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkIssueToken(b *testing.B) {
	s := mustSigner(b, GenerateSigningKeySpec())
	for b.Loop() {
		if _, _, err := s.Issue(KindPatron, "0b9f5f4e-2d4e-4a57-9a51-3f0f6a1f2c11", 15*time.Minute, t0); err != nil {
			b.Fatal(err)
		}
	}
}

// The credentials version travels in the token; a token without one is
// version 0.
func TestTokenCredentialsVersion(t *testing.T) {
	s := mustSigner(t, spec("k1", 1))
	for _, cv := range []int{0, 1, 7} {
		tok, c, err := s.IssueVersion(KindPatron, "p", cv, time.Minute, t0)
		if err != nil || c.CredentialsVersion != cv {
			t.Fatalf("issue version %d: %+v, %v", cv, c, err)
		}
		got, err := s.Verify(tok, t0)
		if err != nil || got.CredentialsVersion != cv {
			t.Errorf("verified version %d: %+v, %v", cv, got, err)
		}
	}
	tok, _, _ := s.Issue(KindStaff, "s", time.Minute, t0)
	if got, err := s.Verify(tok, t0); err != nil || got.CredentialsVersion != 0 {
		t.Errorf("Issue's version: %+v, %v", got, err)
	}
}
