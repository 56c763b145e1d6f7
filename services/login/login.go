// Package login implements AuthService: password login for staff and
// operator accounts, card-and-PIN login for patrons, with throttling and
// lockout keyed by login name, and the one-row login trail.
package login

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	goruntime "runtime"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/patronfed/patronfed/auth"
	"github.com/patronfed/patronfed/clock"
	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
	"github.com/patronfed/patronfed/identity"
	"github.com/patronfed/patronfed/services/protoconv"
	"github.com/patronfed/patronfed/store"
)

// Policy is the throttling policy.
type Policy struct {
	// MaxFailures failed logins in a row lock the login name for Lockout.
	MaxFailures int
	Lockout     time.Duration
	TokenTTL    time.Duration
	// HashParams is the cost new hashes get; a stored hash with other
	// parameters is upgraded at the next successful login.
	HashParams auth.Params
}

// Service implements pb.AuthServiceServer.
type Service struct {
	pb.UnimplementedAuthServiceServer
	db     *pgxpool.Pool
	signer *auth.Signer
	clock  clock.Clock
	policy Policy
	// hashing bounds concurrent argon2id checks: each takes tens of MiB, and
	// a burst of logins must not exhaust memory.
	hashing chan struct{}
	// changed is called with an account's or patron's id after their
	// password or PIN changed.
	changed func(id string)
}

// New returns the service. changed (may be nil) is called with the
// account's or patron's id after a password or PIN change commits, so
// that this replica drops the cached principal at once.
func New(db *pgxpool.Pool, signer *auth.Signer, clk clock.Clock, p Policy, changed func(id string)) *Service {
	if changed == nil {
		changed = func(string) {}
	}
	return &Service{db: db, signer: signer, clock: clk, policy: p, hashing: make(chan struct{}, max(2, goruntime.GOMAXPROCS(0))),
		changed: changed}
}

// verify checks secret against hash (or burns the same time when there is
// no hash) with bounded concurrency.
func (s *Service) verify(ctx context.Context, secret string, hash *string) (ok, needsRehash bool, err error) {
	select {
	case s.hashing <- struct{}{}:
	case <-ctx.Done():
		return false, false, status.FromContextError(ctx.Err()).Err()
	}
	defer func() { <-s.hashing }()
	if hash == nil {
		auth.DummyVerify() // same time as a real check: no account enumeration by timing
		return false, false, nil
	}
	ok, needsRehash, err = auth.VerifySecret(secret, *hash)
	if err != nil {
		return false, false, status.Error(codes.Internal, "internal error")
	}
	return ok, needsRehash, nil
}

// DuringPasswordReset are the methods an account whose password the
// operator has reset may call before changing it.
var DuringPasswordReset = []string{
	pb.AuthService_ChangeMyPassword_FullMethodName,
	pb.AuthService_WhoAmI_FullMethodName,
}

// PublicMethods need no token.
var PublicMethods = []string{
	pb.AuthService_Login_FullMethodName,
	pb.AuthService_PatronLogin_FullMethodName,
}

// Register implements server.Service.
func (s *Service) Register(g *grpc.Server) { pb.RegisterAuthServiceServer(g, s) }

// RegisterGateway implements server.Service.
func (s *Service) RegisterGateway(ctx context.Context, mux *runtime.ServeMux, conn *grpc.ClientConn) error {
	return pb.RegisterAuthServiceHandler(ctx, mux, conn)
}

// errBadCredentials never says whether the account exists.
var errBadCredentials = status.Error(codes.Unauthenticated, "invalid username or password")

var errBadCard = status.Error(codes.Unauthenticated, "invalid card number or PIN")

// throttleKey hashes the login name so the throttle table holds no names or
// card numbers in clear.
func throttleKey(kind, name string) []byte {
	h := sha256.Sum256([]byte(kind + "\x00" + name))
	return h[:]
}

// checkLocked refuses a locked login name with RESOURCE_EXHAUSTED and says
// when to retry.
func (s *Service) checkLocked(ctx context.Context, key []byte, now time.Time) error {
	var until *time.Time
	err := s.db.QueryRow(ctx, `SELECT locked_until FROM login_throttle WHERE principal_hash = $1`, key).Scan(&until)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && (until == nil || !until.After(now))) {
		return nil
	}
	if err != nil {
		return store.Status(err)
	}
	wait := until.Sub(now).Round(time.Second)
	st := status.New(codes.ResourceExhausted, fmt.Sprintf(
		"too many failed logins: this login is locked until %s (retry in %s)", until.UTC().Format(time.RFC3339), wait))
	if d, derr := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(wait)}); derr == nil {
		st = d
	}
	return st.Err()
}

// recordFailure counts a failed login; reaching MaxFailures locks the name.
// Failures older than the lockout window, or from before an expired lock,
// start the count again.
func (s *Service) recordFailure(ctx context.Context, key []byte, now time.Time) error {
	return store.InTx(ctx, s.db, pgx.TxOptions{}, func(tx pgx.Tx) error {
		var failures int
		err := tx.QueryRow(ctx, `
			INSERT INTO login_throttle (principal_hash, failures, last_failure_at) VALUES ($1, 1, $2)
			ON CONFLICT (principal_hash) DO UPDATE SET
			  failures = CASE
			    WHEN login_throttle.last_failure_at < $2 - $3::interval
			      OR login_throttle.locked_until <= $2 THEN 1
			    ELSE login_throttle.failures + 1 END,
			  locked_until = CASE WHEN login_throttle.locked_until <= $2 THEN NULL ELSE login_throttle.locked_until END,
			  last_failure_at = $2
			RETURNING failures`, key, now, s.policy.Lockout).Scan(&failures)
		if err != nil {
			return err
		}
		if failures >= s.policy.MaxFailures {
			_, err = tx.Exec(ctx, `UPDATE login_throttle SET locked_until = $2 WHERE principal_hash = $1`, key, now.Add(s.policy.Lockout))
		}
		return err
	})
}

func (s *Service) clearFailures(ctx context.Context, key []byte) {
	_, _ = s.db.Exec(ctx, `DELETE FROM login_throttle WHERE principal_hash = $1`, key)
}

// Login implements pb.AuthServiceServer.
func (s *Service) Login(ctx context.Context, req *pb.LoginRequest) (*pb.LoginResponse, error) {
	now := s.clock.Now()
	name := strings.ToLower(strings.TrimSpace(req.GetUsername()))
	key := throttleKey("account", name)
	if err := s.checkLocked(ctx, key, now); err != nil {
		return nil, err
	}
	var (
		id, kind, hash string
		library        *string
		roles          []string
		disabled       bool
		version        int
		mustChange     bool
	)
	err := s.db.QueryRow(ctx, `
		SELECT id::text, kind, password_hash, library_id::text, roles, disabled_at IS NOT NULL, credentials_version,
			must_change_password
		FROM accounts WHERE username = $1`, name).Scan(&id, &kind, &hash, &library, &roles, &disabled, &version, &mustChange)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, store.Status(err)
	}
	var stored *string
	if err == nil {
		stored = &hash
	}
	ok, needsRehash, err := s.verify(ctx, req.GetPassword(), stored)
	if err != nil {
		return nil, err
	}
	if !ok || disabled {
		if err := s.recordFailure(ctx, key, now); err != nil {
			return nil, store.Status(err)
		}
		return nil, errBadCredentials
	}
	s.clearFailures(ctx, key)
	if _, err := s.db.Exec(ctx, `UPDATE accounts SET last_login_at = $2, last_login_ip = $3 WHERE id = $1`,
		id, now, nullIP(identity.ClientIP(ctx))); err != nil {
		return nil, store.Status(err)
	}
	if needsRehash && s.policy.HashParams == auth.DefaultParams {
		if nh, herr := auth.HashSecret(req.GetPassword(), auth.DefaultParams); herr == nil {
			_, _ = s.db.Exec(ctx, `UPDATE accounts SET password_hash = $2 WHERE id = $1`, id, nh)
		}
	}
	tok, claims, err := s.signer.IssueVersion(auth.Kind(kind), id, version, s.policy.TokenTTL, now)
	if err != nil {
		return nil, status.Error(codes.Internal, "internal error")
	}
	p := identity.Principal{Kind: identity.Kind(kind), ID: id, Username: name, Roles: roles, TokenID: claims.TokenID,
		CredentialsVersion: version, MustChangePassword: mustChange}
	if library != nil {
		p.LibraryID = *library
	}
	if p.Kind == identity.KindStaff {
		p.Permissions = identity.Permissions(roles)
	}
	return &pb.LoginResponse{Token: tok, ExpiresAt: timestamppb.New(claims.ExpiresAt), Principal: protoconv.Principal(p)}, nil
}

// PatronLogin implements pb.AuthServiceServer.
func (s *Service) PatronLogin(ctx context.Context, req *pb.PatronLoginRequest) (*pb.PatronLoginResponse, error) {
	now := s.clock.Now()
	card := strings.ToUpper(req.GetCardNumber())
	key := throttleKey("card", card)
	if err := s.checkLocked(ctx, key, now); err != nil {
		return nil, err
	}
	var patronID, home string
	var hash *string
	var version int
	err := s.db.QueryRow(ctx, patronLoginQuery, card).Scan(&patronID, &home, &hash, &version)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, store.Status(err)
	}
	if err != nil {
		hash = nil
	}
	ok, _, err := s.verify(ctx, req.GetPin(), hash)
	if err != nil {
		return nil, err
	}
	if !ok {
		if err := s.recordFailure(ctx, key, now); err != nil {
			return nil, store.Status(err)
		}
		return nil, errBadCard
	}
	s.clearFailures(ctx, key)
	if _, err := s.db.Exec(ctx, `UPDATE patrons SET last_login_at = $2, last_login_ip = $3 WHERE id = $1`,
		patronID, now, nullIP(identity.ClientIP(ctx))); err != nil {
		return nil, store.Status(err)
	}
	tok, claims, err := s.signer.IssueVersion(auth.KindPatron, patronID, version, s.policy.TokenTTL, now)
	if err != nil {
		return nil, status.Error(codes.Internal, "internal error")
	}
	p := identity.Principal{Kind: identity.KindPatron, ID: patronID, LibraryID: home, TokenID: claims.TokenID, CredentialsVersion: version}
	return &pb.PatronLoginResponse{Token: tok, ExpiresAt: timestamppb.New(claims.ExpiresAt), Principal: protoconv.Principal(p)}, nil
}

// patronLoginQuery finds the patron of an active card. Archived accounts
// are not usable for service and anonymised ones belong to nobody.
const patronLoginQuery = `
	SELECT p.id::text, p.home_library_id::text, p.pin_hash, p.credentials_version
	FROM cards c JOIN patrons p ON p.id = c.patron_id
	WHERE c.card_number = $1 AND c.active AND p.archived_at IS NULL AND p.anonymised_at IS NULL`

// WhoAmI implements pb.AuthServiceServer.
func (s *Service) WhoAmI(ctx context.Context, _ *pb.WhoAmIRequest) (*pb.WhoAmIResponse, error) {
	p, ok := identity.FromContext(ctx)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "authentication required")
	}
	return &pb.WhoAmIResponse{Principal: protoconv.Principal(p)}, nil
}

func nullIP(ip string) any {
	if ip == "" {
		return nil
	}
	return ip
}
