package auth

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestHashVerifyRoundTrip(t *testing.T) {
	for _, secret := range []string{"1234", "correct horse battery staple", "pässwörd✓", strings.Repeat("x", MaxSecretLen)} {
		h, err := HashSecret(secret, TestParams)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
			t.Fatalf("unexpected encoding %q", h)
		}
		if strings.Contains(h, secret) {
			t.Fatal("hash contains secret")
		}
		ok, _, err := VerifySecret(secret, h)
		if err != nil || !ok {
			t.Fatalf("verify %q: ok=%v err=%v", secret, ok, err)
		}
	}
	// Salts are random.
	a, _ := HashSecret("1234", TestParams)
	b, _ := HashSecret("1234", TestParams)
	if a == b {
		t.Fatal("two hashes of the same secret are equal")
	}
}

func TestVerifyWrongSecret(t *testing.T) {
	h, _ := HashSecret("1234", TestParams)
	for _, wrong := range []string{"", "1235", "12345", "123", " 1234", "1234\x00"} {
		ok, rehash, err := VerifySecret(wrong, h)
		if ok || rehash || err != nil {
			t.Errorf("VerifySecret(%q) = %v, %v, %v", wrong, ok, rehash, err)
		}
	}
}

func TestNeedsRehash(t *testing.T) {
	weak, _ := HashSecret("pin", TestParams)
	ok, rehash, err := VerifySecret("pin", weak)
	if !ok || !rehash || err != nil {
		t.Fatalf("weak hash: ok=%v rehash=%v err=%v", ok, rehash, err)
	}
	// A wrong secret never asks for a rehash (the caller must not store it).
	if _, rehash, _ := VerifySecret("nip", weak); rehash {
		t.Fatal("rehash requested for a wrong secret")
	}
	strong, err := HashSecret("pin", DefaultParams)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(strong, "$argon2id$v=19$m=65536,t=1,p=2$") {
		t.Fatalf("unexpected encoding %q", strong)
	}
	ok, rehash, err = VerifySecret("pin", strong)
	if !ok || rehash || err != nil {
		t.Fatalf("default hash: ok=%v rehash=%v err=%v", ok, rehash, err)
	}
	// Same cost, different key length: also a rehash.
	p := TestParams
	p.KeyLen = 16
	h, _ := HashSecret("pin", p)
	if _, r1, _ := VerifySecret("pin", h); !r1 {
		t.Fatal("no rehash for different key length")
	}
}

func TestHashSecretRejects(t *testing.T) {
	if _, err := HashSecret("", TestParams); !errors.Is(err, ErrInvalidSecret) {
		t.Errorf("empty: %v", err)
	}
	if _, err := HashSecret(strings.Repeat("x", MaxSecretLen+1), TestParams); !errors.Is(err, ErrInvalidSecret) {
		t.Errorf("long: %v", err)
	}
	for name, p := range map[string]Params{
		"zero":        {},
		"no threads":  {Memory: 64, Time: 1, Threads: 0, SaltLen: 16, KeyLen: 32},
		"low memory":  {Memory: 8, Time: 1, Threads: 2, SaltLen: 16, KeyLen: 32},
		"huge memory": {Memory: 1<<20 + 1, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		"no time":     {Memory: 64, Time: 0, Threads: 1, SaltLen: 16, KeyLen: 32},
		"short salt":  {Memory: 64, Time: 1, Threads: 1, SaltLen: 4, KeyLen: 32},
		"short key":   {Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 8},
	} {
		if _, err := HashSecret("x", p); !errors.Is(err, ErrInvalidParams) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestPHCParsingErrors(t *testing.T) {
	good, _ := HashSecret("1234", TestParams)
	parts := strings.Split(good, "$")
	salt, hash := parts[4], parts[5]
	cases := map[string]string{
		"empty":          "",
		"garbage":        "not a hash",
		"bcrypt":         "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
		"argon2i":        "$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + hash,
		"argon2d":        "$argon2d$v=19$m=64,t=1,p=1$" + salt + "$" + hash,
		"version 16":     "$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + hash,
		"no version":     "$argon2id$m=64,t=1,p=1$" + salt + "$" + hash,
		"param order":    "$argon2id$v=19$t=1,m=64,p=1$" + salt + "$" + hash,
		"missing param":  "$argon2id$v=19$m=64,t=1$" + salt + "$" + hash,
		"extra param":    "$argon2id$v=19$m=64,t=1,p=1,k=2$" + salt + "$" + hash,
		"negative":       "$argon2id$v=19$m=-64,t=1,p=1$" + salt + "$" + hash,
		"plus sign":      "$argon2id$v=19$m=+64,t=1,p=1$" + salt + "$" + hash,
		"overflow":       "$argon2id$v=19$m=4294967296,t=1,p=1$" + salt + "$" + hash,
		"p > 255":        "$argon2id$v=19$m=4096,t=1,p=256$" + salt + "$" + hash,
		"memory bomb":    "$argon2id$v=19$m=4194304,t=1,p=1$" + salt + "$" + hash,
		"time bomb":      "$argon2id$v=19$m=64,t=100000,p=1$" + salt + "$" + hash,
		"m < 8p":         "$argon2id$v=19$m=8,t=1,p=2$" + salt + "$" + hash,
		"padded salt":    "$argon2id$v=19$m=64,t=1,p=1$" + salt + "==$" + hash,
		"bad salt":       "$argon2id$v=19$m=64,t=1,p=1$!!!!$" + hash,
		"short salt":     "$argon2id$v=19$m=64,t=1,p=1$AAAA$" + hash,
		"empty hash":     "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$",
		"short hash":     "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$AAAAAAAA",
		"trailing field": good + "$x",
		"no leading $":   strings.TrimPrefix(good, "$"),
		"too long":       good + strings.Repeat("A", 600),
	}
	for name, enc := range cases {
		ok, rehash, err := VerifySecret("1234", enc)
		if ok || rehash || !errors.Is(err, ErrInvalidHash) {
			t.Errorf("%s: ok=%v rehash=%v err=%v", name, ok, rehash, err)
			continue
		}
		if strings.Contains(err.Error(), "1234") || (len(enc) > 20 && strings.Contains(err.Error(), enc)) {
			t.Errorf("%s: error leaks input: %v", name, err)
		}
	}
}

func TestPHCInterop(t *testing.T) {
	// Reference vector produced by the argon2 CLI (phc-winner-argon2):
	//   echo -n password | argon2 somesalt -id -t 2 -k 65536 -p 1 -l 32 -e
	const ref = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
	ok, rehash, err := VerifySecret("password", ref)
	if err != nil || !ok || !rehash {
		t.Fatalf("reference vector: ok=%v rehash=%v err=%v", ok, rehash, err)
	}
}

func TestDummyVerifyTakesAsLongAsVerify(t *testing.T) {
	if testing.Short() {
		t.Skip("timing test")
	}
	h, err := HashSecret("1234", DefaultParams)
	if err != nil {
		t.Fatal(err)
	}
	measure := func(f func()) time.Duration {
		best := time.Duration(1<<63 - 1)
		for range 3 {
			start := time.Now()
			f()
			best = min(best, time.Since(start))
		}
		return best
	}
	real := measure(func() { _, _, _ = VerifySecret("wrong", h) })
	dummy := measure(DummyVerify)
	// Generous bounds: only catch a DummyVerify that does no (or far less) work.
	if dummy < real/3 || dummy > real*3 {
		t.Fatalf("DummyVerify took %v, VerifySecret %v", dummy, real)
	}
}

func BenchmarkVerifySecret(b *testing.B) {
	h, err := HashSecret("correct horse battery staple", DefaultParams)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if ok, _, _ := VerifySecret("correct horse battery staple", h); !ok {
			b.Fatal("verify failed")
		}
	}
}

func BenchmarkDummyVerify(b *testing.B) {
	for b.Loop() {
		DummyVerify()
	}
}
