// Package registration implements RegistrationService: self-registration
// from the web catalogue (package selfreg). SubmitRegistration is public
// (no token) and rate-limited per client address; staff of the chosen
// library with patron.write list, complete and reject requests.
// Completing registers the patron exactly as RegisterPatron does (package
// patron: the same checks, a card, the PIN hashed, the optional-data
// consent recorded), decided by the access policy and audited.
package registration
