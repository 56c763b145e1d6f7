// Package pagetoken encodes the keyset cursors of list RPCs as opaque page
// tokens (AIP-158): clients pass next_page_token back unchanged and never
// build one.
package pagetoken
