// Package auth holds patronfed's credential primitives: slow salted hashing
// of staff passwords and patron card PINs, and short-lived signed access
// tokens. The privacy rules (docs/privacy-rules.md §1, §2.7, §5.1) require
// personal accounts with passwords and that credentials are "stored only as
// a slow salted hash".
//
// # Passwords and PINs
//
// [HashSecret] derives an argon2id hash and encodes it in the PHC string
// format
//
//	$argon2id$v=19$m=65536,t=1,p=2$<salt>$<hash>
//
// (salt and hash in unpadded standard base64), so the parameters travel with
// every hash and can be raised later. [VerifySecret] re-derives with the
// stored parameters, compares in constant time, and reports needsRehash when
// the stored parameters differ from [DefaultParams]; the caller then stores
// HashSecret(secret, DefaultParams) on that successful login.
//
// When the login name does not exist, call [DummyVerify] instead, so the
// response takes as long as a real verification and does not reveal which
// names exist.
//
// Every hash with DefaultParams allocates 64 MiB for its duration; the HTTP
// layer must bound how many logins run at once (and rate-limit them), or a
// burst of login attempts can exhaust memory.
//
// [TestParams] are deliberately weak parameters for fast tests in other
// packages; never use them in production code.
//
// # Tokens
//
// [Signer] issues and verifies JWTs signed with Ed25519 ("alg":"EdDSA").
// Keys come from config as "kid1:BASE64_SEED,kid2:BASE64_SEED" (32-byte
// Ed25519 seeds); the first key signs and puts its id in the "kid" header,
// every listed key verifies. To rotate: prepend the new key, deploy, and
// remove the old key once the longest token lifetime ([MaxTTL]) has passed.
//
// Tokens carry iss and aud "patronfed", sub (account or patron UUID), a
// random jti, iat, exp and the custom claim "kind" ([KindStaff],
// [KindOperator], [KindPatron]). [Signer.Verify] accepts only EdDSA tokens
// with a known kid and all of these claims, allows at most [Leeway] of clock
// skew, and returns only the generic errors [ErrInvalidToken] and
// [ErrExpiredToken] (the latter only for a token that is otherwise valid).
// Tokens are not revocable: keep lifetimes short.
package auth
