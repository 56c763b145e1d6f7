// Package rights implements PatronRightsService: the patron's access and
// erasure requests (privacy-rules §4), from the catalogue (patron token,
// the /v1/me routes) or recorded by the home library's staff on the
// patron's behalf. Requests carry their 30-day deadline; an access request
// is answered with the extract of package rights, an erasure request with
// the anonymisation of package retention and a written confirmation.
//
// Staff act only for patrons of their own library and every staff action
// on a patron is decided by the access policy and audited, reads with the
// field groups they returned: an extract read by staff is a read of the
// record like any other. Patrons act on themselves only and are not
// audited, as elsewhere in the catalogue.
package rights
