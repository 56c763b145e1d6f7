// Package consents implements ConsentService: a patron (OPAC token) manages
// their own consents on the /v1/me routes; staff of the patron's home
// library with consent.write record them on the patron's behalf (decided by
// the policy, action consent.write, and audited). A patron acting on their
// own consents needs no policy decision: they are the data subject
// (privacy rules §4.3), and consent_events keeps every change.
package consents
