package server

import (
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/patronfed/patronfed/auth"
	"github.com/patronfed/patronfed/clock"
	"github.com/patronfed/patronfed/identity"
	"github.com/patronfed/patronfed/principals"
)

// Authenticator verifies the bearer token of each call and loads the caller
// from the database, through a cache that triggers invalidate (package
// principals). Checking the row on every call is what makes disabling an
// account, or changing its roles, take effect on the very next request,
// tokens already issued included.
type Authenticator struct {
	db     *pgxpool.Pool
	signer *auth.Signer
	clock  clock.Clock
	cache  *principals.Cache // nil: no cache
	public map[string]bool
	// duringReset are the methods an account whose password the operator
	// has reset may still call.
	duringReset map[string]bool
}

// NewAuthenticator returns an authenticator; public lists the full method
// names that need no token (login, health, reflection, self-registration),
// duringReset those an account must be able to call while its password is
// to be changed (the change itself). cache may be nil (every call reads
// the row).
func NewAuthenticator(db *pgxpool.Pool, signer *auth.Signer, clk clock.Clock, cache *principals.Cache, public, duringReset []string) *Authenticator {
	set := func(names []string) map[string]bool {
		m := make(map[string]bool, len(names))
		for _, n := range names {
			m[n] = true
		}
		return m
	}
	return &Authenticator{db: db, signer: signer, clock: clk, cache: cache, public: set(public), duringReset: set(duringReset)}
}

var errUnauthenticated = status.Error(codes.Unauthenticated, "missing, invalid or expired token")

// isPublic reports whether method needs no token. Health and reflection are
// matched by service so that every version of them stays open.
func (a *Authenticator) isPublic(method string) bool {
	return a.public[method] ||
		strings.HasPrefix(method, "/grpc.health.v1.Health/") ||
		strings.HasPrefix(method, "/grpc.reflection.")
}

// Authenticate returns the principal of the call's token.
func (a *Authenticator) Authenticate(ctx context.Context) (identity.Principal, error) {
	vals := metadata.ValueFromIncomingContext(ctx, "authorization")
	if len(vals) == 0 {
		return identity.Principal{}, errUnauthenticated
	}
	tok, ok := strings.CutPrefix(vals[0], "Bearer ")
	if !ok {
		tok, ok = strings.CutPrefix(vals[0], "bearer ")
	}
	if !ok || tok == "" {
		return identity.Principal{}, errUnauthenticated
	}
	claims, err := a.signer.Verify(tok, a.clock.Now())
	if err != nil {
		return identity.Principal{}, errUnauthenticated
	}
	p, err := a.load(ctx, claims)
	if err != nil {
		return identity.Principal{}, err
	}
	if claims.CredentialsVersion != p.CredentialsVersion {
		return identity.Principal{}, errSignedOut
	}
	p.TokenID = claims.TokenID
	return p, nil
}

// passwordChangeFirst holds every call of an account whose password the
// operator has reset, but those in duringReset.
func (a *Authenticator) passwordChangeFirst(p identity.Principal, method string) error {
	if !p.MustChangePassword || a.duringReset[method] {
		return nil
	}
	return errChangePassword
}

var errChangePassword = status.Error(codes.FailedPrecondition,
	"the password was reset by the operator: change it first (AuthService.ChangeMyPassword, POST /v1/auth/password:change)")

var errSignedOut = status.Error(codes.Unauthenticated, "signed out: the password or PIN was changed since this token was issued; sign in again")

func (a *Authenticator) load(ctx context.Context, c auth.Claims) (identity.Principal, error) {
	if a.cache == nil {
		return a.read(ctx, c)
	}
	// A token of another credentials version than the cached row's is
	// checked against the database: the row may be older than the token
	// (a change on another replica whose notification is still on its way).
	if p, ok := a.cache.Get(c.Subject); ok && string(p.Kind) == string(c.Kind) && p.CredentialsVersion == c.CredentialsVersion {
		return p, nil
	}
	gen := a.cache.Generation()
	p, err := a.read(ctx, c)
	if err == nil {
		a.cache.Put(gen, p)
	}
	return p, err
}

// read loads the principal of c from the database.
func (a *Authenticator) read(ctx context.Context, c auth.Claims) (identity.Principal, error) {
	switch c.Kind {
	case auth.KindStaff, auth.KindOperator:
		var (
			kind, username string
			library        *string
			roles          []string
			disabled       bool
			version        int
			mustChange     bool
		)
		err := a.db.QueryRow(ctx, `SELECT kind, username, library_id::text, roles, disabled_at IS NOT NULL,
			credentials_version, must_change_password FROM accounts WHERE id = $1`,
			c.Subject).Scan(&kind, &username, &library, &roles, &disabled, &version, &mustChange)
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && (disabled || kind != string(c.Kind))) {
			return identity.Principal{}, status.Error(codes.Unauthenticated, "account is disabled or no longer exists")
		}
		if err != nil {
			return identity.Principal{}, status.Error(codes.Unavailable, "cannot verify the account right now")
		}
		p := identity.Principal{Kind: identity.Kind(kind), ID: c.Subject, Username: username, Roles: roles,
			CredentialsVersion: version, MustChangePassword: mustChange}
		if library != nil {
			p.LibraryID = *library
		}
		if p.Kind == identity.KindStaff {
			p.Permissions = identity.Permissions(roles)
		}
		return p, nil
	case auth.KindPatron:
		var home string
		var version int
		err := a.db.QueryRow(ctx, patronPrincipalQuery, c.Subject).Scan(&home, &version)
		if errors.Is(err, pgx.ErrNoRows) {
			return identity.Principal{}, status.Error(codes.Unauthenticated, "patron account is not active")
		}
		if err != nil {
			return identity.Principal{}, status.Error(codes.Unavailable, "cannot verify the account right now")
		}
		return identity.Principal{Kind: identity.KindPatron, ID: c.Subject, LibraryID: home, CredentialsVersion: version}, nil
	}
	return identity.Principal{}, errUnauthenticated
}

// patronPrincipalQuery finds a patron who may use the OPAC: archived and
// anonymised accounts may not.
var patronPrincipalQuery = `SELECT home_library_id::text, credentials_version FROM patrons
	WHERE id = $1 AND archived_at IS NULL AND anonymised_at IS NULL`

func (a *Authenticator) unary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if a.isPublic(info.FullMethod) {
			return h(ctx, req)
		}
		p, err := a.Authenticate(ctx)
		if err != nil {
			return nil, err
		}
		if err := a.passwordChangeFirst(p, info.FullMethod); err != nil {
			return nil, err
		}
		recordPrincipal(ctx, p)
		return h(identity.WithPrincipal(ctx, p), req)
	}
}

type principalStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s principalStream) Context() context.Context { return s.ctx }

func (a *Authenticator) stream() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		if a.isPublic(info.FullMethod) {
			return h(srv, ss)
		}
		p, err := a.Authenticate(ss.Context())
		if err != nil {
			return err
		}
		if err := a.passwordChangeFirst(p, info.FullMethod); err != nil {
			return err
		}
		return h(srv, principalStream{ServerStream: ss, ctx: identity.WithPrincipal(ss.Context(), p)})
	}
}
