package pii

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, KeySize) }

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func mustKeyring(t *testing.T, enc, idx string) *Keyring {
	t.Helper()
	k, err := ParseKeyring(enc, idx)
	if err != nil {
		t.Fatalf("ParseKeyring: %v", err)
	}
	return k
}

func TestSealOpenRoundTrip(t *testing.T) {
	k := mustKeyring(t, "k1:"+b64(testKey(1)), b64(testKey(9)))
	aad := AAD("patron-uuid-1", KindSSN)
	for _, pt := range []string{"", "19121212-1212", strings.Repeat("x", 4096)} {
		ct, kid, err := k.Seal([]byte(pt), aad)
		if err != nil {
			t.Fatal(err)
		}
		if kid != "k1" {
			t.Fatalf("kid = %q", kid)
		}
		if len(ct) != len(pt)+Overhead {
			t.Fatalf("len(ct) = %d, want %d", len(ct), len(pt)+Overhead)
		}
		if pt != "" && bytes.Contains(ct, []byte(pt)) {
			t.Fatal("ciphertext contains plaintext")
		}
		got, err := k.Open(ct, kid, aad)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != pt {
			t.Fatalf("got %q want %q", got, pt)
		}
	}
	// Nonces are random: sealing twice gives different ciphertexts.
	a, _, _ := k.Seal([]byte("same"), aad)
	b, _, _ := k.Seal([]byte("same"), aad)
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same plaintext are equal")
	}
}

func TestRotation(t *testing.T) {
	idx := b64(testKey(9))
	old := mustKeyring(t, "old:"+b64(testKey(1)), idx)
	aad := AAD("patron-1", KindPersonalIdentityNumber)
	ct, kid, err := old.Seal([]byte("199001011234"), aad)
	if err != nil || kid != "old" {
		t.Fatalf("seal: %v %q", err, kid)
	}

	rotated := mustKeyring(t, "new:"+b64(testKey(2))+", old:"+b64(testKey(1)), idx)
	if rotated.CurrentKeyID() != "new" {
		t.Fatalf("current = %q", rotated.CurrentKeyID())
	}
	if got := rotated.KeyIDs(); len(got) != 2 || got[0] != "new" || got[1] != "old" {
		t.Fatalf("KeyIDs = %v", got)
	}
	pt, err := rotated.Open(ct, kid, aad)
	if err != nil || string(pt) != "199001011234" {
		t.Fatalf("open old ciphertext after rotation: %q %v", pt, err)
	}
	ct2, kid2, err := rotated.Seal(pt, aad)
	if err != nil || kid2 != "new" {
		t.Fatalf("reseal: %v %q", err, kid2)
	}
	if _, err := old.Open(ct2, kid2, aad); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("old keyring opening new key: %v", err)
	}
	// Lying about the key id does not help.
	if _, err := rotated.Open(ct, "new", aad); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("wrong kid: %v", err)
	}
	// Old key removed: old ciphertexts no longer open.
	retired := mustKeyring(t, "new:"+b64(testKey(2)), idx)
	if _, err := retired.Open(ct, kid, aad); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("retired key: %v", err)
	}
	// The blind index does not depend on the encryption keys.
	if !bytes.Equal(old.BlindIndex(KindSSN, "1"), rotated.BlindIndex(KindSSN, "1")) {
		t.Fatal("blind index changed with encryption key rotation")
	}
}

func TestTamperDetection(t *testing.T) {
	k := mustKeyring(t, "k1:"+b64(testKey(1)), b64(testKey(9)))
	aad := AAD("p1", KindSSN)
	ct, kid, _ := k.Seal([]byte("123-45-6789"), aad)
	for i := range ct {
		bad := bytes.Clone(ct)
		bad[i] ^= 0x01
		if _, err := k.Open(bad, kid, aad); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("flip byte %d: err = %v", i, err)
		}
	}
	for _, bad := range [][]byte{nil, ct[:NonceSize], ct[:len(ct)-1], append(bytes.Clone(ct), 0)} {
		if _, err := k.Open(bad, kid, aad); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("len %d: err = %v", len(bad), err)
		}
	}
}

func TestAADMismatch(t *testing.T) {
	k := mustKeyring(t, "k1:"+b64(testKey(1)), b64(testKey(9)))
	ct, kid, _ := k.Seal([]byte("secret-id"), AAD("patron-1", KindSSN))
	for name, aad := range map[string][]byte{
		"other row":   AAD("patron-2", KindSSN),
		"other field": AAD("patron-1", KindIDDocument),
		"ambiguous":   AAD("patron-1s", "sn"),
	} {
		if _, err := k.Open(ct, kid, aad); !errors.Is(err, ErrDecrypt) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	if _, _, err := k.Seal([]byte("x"), nil); !errors.Is(err, ErrMissingAAD) {
		t.Errorf("seal without aad: %v", err)
	}
	if _, err := k.Open(ct, kid, nil); !errors.Is(err, ErrMissingAAD) {
		t.Errorf("open without aad: %v", err)
	}
}

func TestAADUnambiguous(t *testing.T) {
	if bytes.Equal(AAD("ab", "c"), AAD("a", "bc")) {
		t.Fatal("AAD is ambiguous")
	}
	if bytes.Equal(AAD("a"), AAD("a", "")) {
		t.Fatal("AAD ignores empty parts")
	}
}

func TestBlindIndex(t *testing.T) {
	k := mustKeyring(t, "k1:"+b64(testKey(1)), b64(testKey(9)))
	other := mustKeyring(t, "k1:"+b64(testKey(1)), b64(testKey(8)))

	a := k.BlindIndex(KindPersonalIdentityNumber, "19121212-1212")
	if len(a) != BlindIndexSize {
		t.Fatalf("len = %d", len(a))
	}
	if !bytes.Equal(a, k.BlindIndex(KindPersonalIdentityNumber, "19121212-1212")) {
		t.Fatal("not deterministic")
	}
	for _, v := range []string{"191212121212", " 19121212 1212 ", "19121212\u20131212", "1912.1212.1212", "19121212+1212"} {
		if !bytes.Equal(a, k.BlindIndex(KindPersonalIdentityNumber, v)) {
			t.Errorf("%q not normalised to the same index", v)
		}
	}
	if bytes.Equal(a, k.BlindIndex(KindPersonalIdentityNumber, "121212-1212")) {
		t.Error("century digits must not be dropped")
	}
	if bytes.Equal(a, k.BlindIndex(KindCoordinationNumber, "19121212-1212")) {
		t.Error("index does not depend on kind")
	}
	if bytes.Equal(a, other.BlindIndex(KindPersonalIdentityNumber, "19121212-1212")) {
		t.Error("index does not depend on index key")
	}
	if !bytes.Equal(k.BlindIndex(KindIDDocument, "ab 12-34"), k.BlindIndex(KindIDDocument, "AB1234")) {
		t.Error("id document not case/space normalised")
	}
	// Kind/value boundary is unambiguous.
	if bytes.Equal(k.BlindIndex("ab", "c"), k.BlindIndex("a", "bc")) {
		t.Error("kind/value boundary ambiguous")
	}
}

func TestNormalize(t *testing.T) {
	cases := []struct{ kind, in, want string }{
		{KindPersonalIdentityNumber, " 19121212-1212 ", "191212121212"},
		{KindPersonalIdentityNumber, "121212+1212", "1212121212"},
		{KindCoordinationNumber, "19701063-2391", "197010632391"},
		{KindLMANumber, "123 456 789-01", "12345678901"},
		{KindSSN, "078-05-1120", "078051120"},
		{KindIDDocument, "ab.123\t456", "AB123456"},
		{"other", "  a-B c  ", "a-B c"},
	}
	for _, c := range cases {
		if got := Normalize(c.kind, c.in); got != c.want {
			t.Errorf("Normalize(%q, %q) = %q, want %q", c.kind, c.in, got, c.want)
		}
	}
}

func TestParseKeyringErrors(t *testing.T) {
	good := b64(testKey(1))
	idx := b64(testKey(9))
	secretish := base64.StdEncoding.EncodeToString(testKey(7)) // must never appear in errors
	cases := map[string][2]string{
		"empty":            {"", idx},
		"no colon":         {secretish, idx},
		"bad base64":       {"k1:%%%" + secretish, idx},
		"short key":        {"k1:" + b64(make([]byte, 16)), idx},
		"long key":         {"k1:" + b64(make([]byte, 33)), idx},
		"dup id":           {"k1:" + good + ",k1:" + b64(testKey(2)), idx},
		"empty entry":      {"k1:" + good + ",", idx},
		"empty id":         {":" + good, idx},
		"bad id":           {secretish + ":" + good, idx},
		"short index":      {"k1:" + good, b64(make([]byte, 31))},
		"bad index":        {"k1:" + good, "!!" + secretish},
		"index == enc key": {"k1:" + good, good},
	}
	for name, c := range cases {
		_, err := ParseKeyring(c[0], c[1])
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		if strings.Contains(err.Error(), secretish) || strings.Contains(err.Error(), good) || strings.Contains(err.Error(), secretish[:16]) {
			t.Errorf("%s: error leaks key material: %v", name, err)
		}
	}
}

func TestParseKeyringEncodings(t *testing.T) {
	key := testKey(0xfb) // produces '+'/'/' in std and '-'/'_' in url encodings
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		k, err := ParseKeyring("k1:"+enc.EncodeToString(key), enc.EncodeToString(testKey(9)))
		if err != nil {
			t.Fatalf("%v", err)
		}
		ref, _ := NewKeyring([]Key{{ID: "k1", Secret: key}}, testKey(9))
		ct, kid, _ := ref.Seal([]byte("x"), []byte("aad"))
		if _, err := k.Open(ct, kid, []byte("aad")); err != nil {
			t.Fatalf("keys decoded differently: %v", err)
		}
	}
}

func TestGenerateKeyringSpec(t *testing.T) {
	enc, idx := GenerateKeyringSpec()
	k := mustKeyring(t, enc, idx)
	enc2, idx2 := GenerateKeyringSpec()
	if enc == enc2 || idx == idx2 {
		t.Fatal("not random")
	}
	ct, kid, err := k.Seal([]byte("x"), []byte("a"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Open(ct, kid, []byte("a")); err != nil {
		t.Fatal(err)
	}
}

func TestKeyringDoesNotPrintSecrets(t *testing.T) {
	secret := testKey('S')
	idx := testKey('I')
	k, err := NewKeyring([]Key{{ID: "k1", Secret: secret}}, idx)
	if err != nil {
		t.Fatal(err)
	}
	// Mutating the caller's slices must not affect the keyring.
	secret[0], idx[0] = 0, 0
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%d", "%x"} {
		type holder struct {
			kr  Keyring
			krp *Keyring
		}
		for _, v := range []any{k, *k, Key{ID: "k1", Secret: testKey('S')}, []Key{{ID: "k1", Secret: testKey('S')}},
			holder{*k, k}} {
			out := fmt.Sprintf(verb, v)
			if strings.Contains(out, "SSSS") || strings.Contains(out, "IIII") || strings.Contains(out, "83 83") || strings.Contains(out, "73 73") || strings.Contains(out, "0x53") || strings.Contains(out, "0x49") || strings.Contains(out, "5353") || strings.Contains(out, "4949") {
				t.Errorf("%s leaks: %s", verb, out)
			}
		}
	}
	ct, kid, _ := k.Seal([]byte("x"), []byte("a"))
	k2, _ := NewKeyring([]Key{{ID: "k1", Secret: testKey('S')}}, testKey('I'))
	if _, err := k2.Open(ct, kid, []byte("a")); err != nil {
		t.Fatal("keyring aliases caller's secret slice")
	}
	if !bytes.Equal(k.BlindIndex(KindSSN, "1"), k2.BlindIndex(KindSSN, "1")) {
		t.Fatal("keyring aliases caller's index key slice")
	}
}

func TestErrorsDoNotContainPlaintext(t *testing.T) {
	k := mustKeyring(t, "k1:"+b64(testKey(1)), b64(testKey(9)))
	pt := "19121212-1212"
	ct, kid, _ := k.Seal([]byte(pt), AAD("p", KindSSN))
	_, err := k.Open(ct, kid, AAD("q", KindSSN))
	if err == nil || strings.Contains(err.Error(), pt) {
		t.Fatalf("err = %v", err)
	}
}

func BenchmarkSeal(b *testing.B) {
	enc, idx := GenerateKeyringSpec()
	k, _ := ParseKeyring(enc, idx)
	aad := AAD("patron", KindSSN)
	for b.Loop() {
		_, _, _ = k.Seal([]byte("191212121212"), aad)
	}
}

func BenchmarkBlindIndex(b *testing.B) {
	enc, idx := GenerateKeyringSpec()
	k, _ := ParseKeyring(enc, idx)
	for b.Loop() {
		_ = k.BlindIndex(KindPersonalIdentityNumber, "19121212-1212")
	}
}
