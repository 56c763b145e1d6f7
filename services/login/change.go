package login

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/patronfed/patronfed/auth"
	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
	"github.com/patronfed/patronfed/identity"
	"github.com/patronfed/patronfed/services/protoconv"
	"github.com/patronfed/patronfed/store"
)

// ChangeMyPassword implements pb.AuthServiceServer.
func (s *Service) ChangeMyPassword(ctx context.Context, req *pb.ChangeMyPasswordRequest) (*pb.ChangeMyPasswordResponse, error) {
	p, ok := identity.FromContext(ctx)
	if !ok || (p.Kind != identity.KindStaff && p.Kind != identity.KindOperator) {
		return nil, status.Error(codes.PermissionDenied, "only staff and operator accounts have a password")
	}
	p, tok, exp, err := s.changeSecret(ctx, p, secretChange{
		// The account's login throttle: guessing here counts as at Login.
		key:     throttleKey("account", p.Username),
		current: req.GetCurrentPassword(), next: req.GetNewPassword(),
		fields: [2]string{"current_password", "new_password"},
		read:   `SELECT password_hash FROM accounts WHERE id = $1`,
		write: `UPDATE accounts SET password_hash = $2, credentials_version = credentials_version + 1,
			must_change_password = false, updated_at = $3 WHERE id = $1 RETURNING credentials_version`,
	})
	if err != nil {
		return nil, err
	}
	return &pb.ChangeMyPasswordResponse{Token: tok, ExpiresAt: exp, Principal: protoconv.Principal(p)}, nil
}

// ChangeMyPin implements pb.AuthServiceServer.
func (s *Service) ChangeMyPin(ctx context.Context, req *pb.ChangeMyPinRequest) (*pb.ChangeMyPinResponse, error) {
	p, err := identity.Require(ctx, identity.KindPatron)
	if err != nil {
		return nil, err
	}
	p, tok, exp, err := s.changeSecret(ctx, p, secretChange{
		key:     throttleKey("patron", p.ID),
		current: req.GetCurrentPin(), next: req.GetNewPin(),
		fields: [2]string{"current_pin", "new_pin"},
		read:   `SELECT pin_hash FROM patrons WHERE id = $1`,
		write: `UPDATE patrons SET pin_hash = $2, credentials_version = credentials_version + 1, updated_at = $3
			WHERE id = $1 RETURNING credentials_version`,
	})
	if err != nil {
		return nil, err
	}
	return &pb.ChangeMyPinResponse{Token: tok, ExpiresAt: exp, Principal: protoconv.Principal(p)}, nil
}

// secretChange is a change of the caller's own password or PIN: the
// throttle key that failed checks count on, the two secrets and their
// field names (current, new), and the statements that read the stored
// hash ($1 the id) and write the new one ($2, at $3), bumping and
// returning the credentials version.
type secretChange struct {
	key           []byte
	current, next string
	fields        [2]string
	read, write   string
}

// changeSecret checks the caller's current secret, stores the new one's
// hash with a new credentials version (which ends every session opened
// before), and opens a new session.
func (s *Service) changeSecret(ctx context.Context, p identity.Principal, c secretChange) (identity.Principal, string, *timestamppb.Timestamp, error) {
	now := s.clock.Now()
	if err := s.checkLocked(ctx, c.key, now); err != nil {
		return p, "", nil, err
	}
	var hash *string
	if err := s.db.QueryRow(ctx, c.read, p.ID).Scan(&hash); err != nil {
		return p, "", nil, store.Status(err)
	}
	ok, _, err := s.verify(ctx, c.current, hash)
	if err != nil {
		return p, "", nil, err
	}
	if !ok {
		if err := s.recordFailure(ctx, c.key, now); err != nil {
			return p, "", nil, store.Status(err)
		}
		return p, "", nil, store.InvalidField(c.fields[0], "does not match the current one")
	}
	s.clearFailures(ctx, c.key)
	if c.next == c.current {
		return p, "", nil, store.InvalidField(c.fields[1], "must differ from the current one")
	}
	nh, err := s.hash(ctx, c.next)
	if err != nil {
		return p, "", nil, err
	}
	var version int
	if err := s.db.QueryRow(ctx, c.write, p.ID, nh, now).Scan(&version); err != nil {
		return p, "", nil, store.Status(err)
	}
	s.changed(p.ID)
	tok, claims, err := s.signer.IssueVersion(auth.Kind(p.Kind), p.ID, version, s.policy.TokenTTL, now)
	if err != nil {
		return p, "", nil, status.Error(codes.Internal, "internal error")
	}
	p.TokenID, p.CredentialsVersion, p.MustChangePassword = claims.TokenID, version, false
	return p, tok, timestamppb.New(claims.ExpiresAt), nil
}

// hash hashes a new secret with bounded concurrency, as verify checks one.
func (s *Service) hash(ctx context.Context, secret string) (string, error) {
	select {
	case s.hashing <- struct{}{}:
	case <-ctx.Done():
		return "", status.FromContextError(ctx.Err()).Err()
	}
	defer func() { <-s.hashing }()
	h, err := auth.HashSecret(secret, s.policy.HashParams)
	if err != nil {
		return "", status.Error(codes.Internal, "internal error")
	}
	return h, nil
}
