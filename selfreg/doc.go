// Package selfreg is self-registration from the web catalogue (SPOK,
// privacy-rules §1): a request to be registered at a member library, with
// name and address (required) and phone, e-mail and username (optional).
// Staff of that library complete it after checking identity at the desk,
// which registers the patron (package patron) and clears the request's
// personal fields, or reject it, which deletes it. Pending requests are
// deleted by retention after the library's self_registration_retention_days.
package selfreg
