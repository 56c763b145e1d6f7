// Package identity describes who is calling: the authenticated principal the
// authentication interceptor puts on the request context, the staff roles and
// the permissions they carry, and small guards handlers use to refuse a call.
//
// Roles are fixed in code (not data) so a permission can never be granted by
// editing a table row; the operator assigns roles to personal accounts.
package identity

import (
	"context"
	"net"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// Kind is the sort of caller.
type Kind string

// Kinds of principal.
const (
	KindStaff    Kind = "staff"
	KindOperator Kind = "operator"
	KindPatron   Kind = "patron"
)

// Permissions. They match the strings the access policy (package policy) reads.
const (
	PermPatronRead      = "patron.read"
	PermPatronWrite     = "patron.write"
	PermIdentifiers     = "patron.identifiers"
	PermSpecialCategory = "patron.special_category"
	PermConsentWrite    = "consent.write"
	PermLoanManage      = "loan.manage"
	PermLibraryManage   = "library.manage"
)

// Role names as stored in accounts.roles.
const (
	RoleCirculation     = "circulation"
	RoleRegistrar       = "registrar"
	RoleManager         = "manager"
	RoleSpecialCategory = "special_category"
)

// rolePermissions is the whole role model. Special-category access is its own
// role so that it is never implied by another (privacy-rules §2 rule 8).
var rolePermissions = map[string][]string{
	RoleCirculation: {PermPatronRead, PermLoanManage},
	RoleRegistrar:   {PermPatronRead, PermPatronWrite, PermIdentifiers, PermConsentWrite},
	RoleManager: {PermPatronRead, PermPatronWrite, PermIdentifiers, PermConsentWrite,
		PermLoanManage, PermLibraryManage},
	RoleSpecialCategory: {PermSpecialCategory},
}

// ValidRole reports whether r is a known role.
func ValidRole(r string) bool { _, ok := rolePermissions[r]; return ok }

// Permissions returns the sorted, de-duplicated permissions of roles.
// Unknown roles grant nothing.
func Permissions(roles []string) []string {
	var out []string
	for _, r := range roles {
		out = append(out, rolePermissions[r]...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Principal is the authenticated caller of one request.
type Principal struct {
	Kind Kind
	// ID is the account id (staff, operator) or the patron id (patron).
	ID       string
	Username string
	// LibraryID is the staff account's library, or the patron's home library.
	LibraryID   string
	Roles       []string
	Permissions []string
	// TokenID is the jti of the token used, for breach scoping.
	TokenID string
	// CredentialsVersion counts the changes of the password (staff,
	// operator) or PIN (patron): tokens of another version are refused.
	CredentialsVersion int
	// MustChangePassword: the operator has reset the account's password;
	// until its owner changes it, no other call is served.
	MustChangePassword bool
}

// Has reports whether the principal holds permission p.
func (p Principal) Has(perm string) bool { return slices.Contains(p.Permissions, perm) }

type ctxKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the caller, if the request was authenticated.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(ctxKey{}).(Principal)
	return p, ok
}

// Require returns the caller if it is one of kinds, else UNAUTHENTICATED (no
// caller) or PERMISSION_DENIED (wrong kind).
func Require(ctx context.Context, kinds ...Kind) (Principal, error) {
	p, ok := FromContext(ctx)
	if !ok {
		return Principal{}, status.Error(codes.Unauthenticated, "authentication required")
	}
	if !slices.Contains(kinds, p.Kind) {
		return Principal{}, status.Errorf(codes.PermissionDenied, "this operation is not available to %s accounts", p.Kind)
	}
	return p, nil
}

// RequireOperator admits only the consortium operator.
func RequireOperator(ctx context.Context) (Principal, error) {
	return Require(ctx, KindOperator)
}

// RequireStaff admits staff holding every one of perms.
func RequireStaff(ctx context.Context, perms ...string) (Principal, error) {
	p, err := Require(ctx, KindStaff)
	if err != nil {
		return p, err
	}
	for _, perm := range perms {
		if !p.Has(perm) {
			return Principal{}, status.Errorf(codes.PermissionDenied, "missing permission %s", perm)
		}
	}
	return p, nil
}

// RequirePatron admits only a patron signed in to the OPAC.
func RequirePatron(ctx context.Context) (Principal, error) {
	return Require(ctx, KindPatron)
}

// ClientIP returns the caller's address for the login trail and rate
// limits. Behind the REST gateway the gRPC peer is the gateway itself, which
// dials over loopback and passes the real client in x-forwarded-for; that
// header is trusted only from a loopback peer.
func ClientIP(ctx context.Context) string {
	pr, ok := peer.FromContext(ctx)
	if !ok || pr.Addr == nil {
		return ""
	}
	host, _, err := net.SplitHostPort(pr.Addr.String())
	if err != nil {
		host = pr.Addr.String()
	}
	ip := net.ParseIP(host)
	if ip != nil && ip.IsLoopback() {
		if v := metadata.ValueFromIncomingContext(ctx, "x-forwarded-for"); len(v) > 0 {
			first, _, _ := strings.Cut(v[0], ",")
			if fwd := net.ParseIP(strings.TrimSpace(first)); fwd != nil {
				return fwd.String()
			}
		}
	}
	if ip == nil {
		return ""
	}
	return ip.String()
}
