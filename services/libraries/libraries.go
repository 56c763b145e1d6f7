// Package libraries implements LibraryService: the consortium's member
// libraries and the personal staff accounts that belong to them.
package libraries

import (
	"context"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/patronfed/patronfed/auth"
	"github.com/patronfed/patronfed/clock"
	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
	"github.com/patronfed/patronfed/identity"
	"github.com/patronfed/patronfed/services/protoconv"
	"github.com/patronfed/patronfed/store"
)

func init() {
	store.RegisterConstraint("libraries_code_key", "code", "a library with this code already exists")
	store.RegisterConstraint("accounts_username_key", "username", "this username is taken")
	store.RegisterConstraint("accounts_library_id_fkey", "library_id", "no such library")
}

// Service implements pb.LibraryServiceServer.
type Service struct {
	pb.UnimplementedLibraryServiceServer
	db    *pgxpool.Pool
	clock clock.Clock
	hash  auth.Params
	// changed is told the id of an account whose principal changed, after
	// the commit (the replica's principal cache).
	changed func(accountID string)
}

// New returns the service. hash sets the argon2id cost of new passwords;
// changed (may be nil) is called with an account's id after a committed
// change to its roles or status.
func New(db *pgxpool.Pool, clk clock.Clock, hash auth.Params, changed func(accountID string)) *Service {
	if changed == nil {
		changed = func(string) {}
	}
	return &Service{db: db, clock: clk, hash: hash, changed: changed}
}

// Register implements server.Service.
func (s *Service) Register(g *grpc.Server) { pb.RegisterLibraryServiceServer(g, s) }

// RegisterGateway implements server.Service.
func (s *Service) RegisterGateway(ctx context.Context, mux *runtime.ServeMux, conn *grpc.ClientConn) error {
	return pb.RegisterLibraryServiceHandler(ctx, mux, conn)
}

const libraryCols = `id::text, code, name, country, created_at, updated_at`

func scanLibrary(row pgx.Row) (*pb.Library, error) {
	var l pb.Library
	var created, updated time.Time
	if err := row.Scan(&l.Id, &l.Code, &l.Name, &l.Country, &created, &updated); err != nil {
		return nil, err
	}
	l.CreateTime, l.UpdateTime = protoconv.Time(created), protoconv.Time(updated)
	return &l, nil
}

// CreateLibrary implements pb.LibraryServiceServer.
func (s *Service) CreateLibrary(ctx context.Context, req *pb.CreateLibraryRequest) (*pb.CreateLibraryResponse, error) {
	if _, err := identity.RequireOperator(ctx); err != nil {
		return nil, err
	}
	now := s.clock.Now()
	l, err := scanLibrary(s.db.QueryRow(ctx, `
		INSERT INTO libraries (code, name, country, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)
		RETURNING `+libraryCols, req.GetCode(), req.GetName(), req.GetCountry(), now))
	if err != nil {
		return nil, store.Status(err)
	}
	return &pb.CreateLibraryResponse{Library: l}, nil
}

// ListLibraries implements pb.LibraryServiceServer. Any signed-in caller may
// read the member directory.
func (s *Service) ListLibraries(ctx context.Context, _ *pb.ListLibrariesRequest) (*pb.ListLibrariesResponse, error) {
	if _, err := identity.Require(ctx, identity.KindStaff, identity.KindOperator, identity.KindPatron); err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, `SELECT `+libraryCols+` FROM libraries ORDER BY code`)
	if err != nil {
		return nil, store.Status(err)
	}
	libs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*pb.Library, error) { return scanLibrary(r) })
	if err != nil {
		return nil, store.Status(err)
	}
	return &pb.ListLibrariesResponse{Libraries: libs}, nil
}

// GetLibrary implements pb.LibraryServiceServer.
func (s *Service) GetLibrary(ctx context.Context, req *pb.GetLibraryRequest) (*pb.GetLibraryResponse, error) {
	if _, err := identity.Require(ctx, identity.KindStaff, identity.KindOperator, identity.KindPatron); err != nil {
		return nil, err
	}
	l, err := scanLibrary(s.db.QueryRow(ctx, `SELECT `+libraryCols+` FROM libraries WHERE id = $1`, req.GetLibraryId()))
	if err != nil {
		return nil, store.Status(err)
	}
	return &pb.GetLibraryResponse{Library: l}, nil
}

// UpdateLibrary implements pb.LibraryServiceServer.
func (s *Service) UpdateLibrary(ctx context.Context, req *pb.UpdateLibraryRequest) (*pb.UpdateLibraryResponse, error) {
	if _, err := identity.RequireOperator(ctx); err != nil {
		return nil, err
	}
	l, err := scanLibrary(s.db.QueryRow(ctx, `
		UPDATE libraries SET name = coalesce($2, name), country = coalesce($3, country), updated_at = $4
		WHERE id = $1 RETURNING `+libraryCols, req.GetLibraryId(), req.Name, req.Country, s.clock.Now()))
	if err != nil {
		return nil, store.Status(err)
	}
	return &pb.UpdateLibraryResponse{Library: l}, nil
}

const accountCols = `id::text, username, display_name, library_id::text, roles, disabled_at, created_at, last_login_at, coalesce(host(last_login_ip), '')`

func scanAccount(row pgx.Row) (*pb.StaffAccount, error) {
	var a pb.StaffAccount
	var roles []string
	var disabled, lastLogin *time.Time
	var created time.Time
	if err := row.Scan(&a.Id, &a.Username, &a.DisplayName, &a.LibraryId, &roles, &disabled, &created, &lastLogin, &a.LastLoginIp); err != nil {
		return nil, err
	}
	a.Roles = protoconv.RolesToProto(roles)
	a.Disabled = disabled != nil
	a.DisableTime, a.CreateTime, a.LastLoginTime = protoconv.TimePtr(disabled), protoconv.Time(created), protoconv.TimePtr(lastLogin)
	return &a, nil
}

// CreateStaffAccount implements pb.LibraryServiceServer.
func (s *Service) CreateStaffAccount(ctx context.Context, req *pb.CreateStaffAccountRequest) (*pb.CreateStaffAccountResponse, error) {
	if _, err := identity.RequireOperator(ctx); err != nil {
		return nil, err
	}
	hash, err := auth.HashSecret(req.GetPassword(), s.hash)
	if err != nil {
		return nil, status.Error(codes.Internal, "internal error")
	}
	now := s.clock.Now()
	a, err := scanAccount(s.db.QueryRow(ctx, `
		INSERT INTO accounts (kind, username, display_name, library_id, roles, password_hash, created_at, updated_at)
		VALUES ('staff', $1, $2, $3, $4, $5, $6, $6) RETURNING `+accountCols,
		req.GetUsername(), req.GetDisplayName(), req.GetLibraryId(), protoconv.RolesFromProto(req.GetRoles()), hash, now))
	if err != nil {
		return nil, store.Status(err)
	}
	return &pb.CreateStaffAccountResponse{Account: a}, nil
}

// ListStaffAccounts implements pb.LibraryServiceServer. The operator sees
// every account; a library manager sees their own library's.
func (s *Service) ListStaffAccounts(ctx context.Context, req *pb.ListStaffAccountsRequest) (*pb.ListStaffAccountsResponse, error) {
	p, err := identity.Require(ctx, identity.KindOperator, identity.KindStaff)
	if err != nil {
		return nil, err
	}
	lib := req.GetLibraryId()
	if p.Kind == identity.KindStaff {
		if !p.Has(identity.PermLibraryManage) {
			return nil, status.Error(codes.PermissionDenied, "missing permission library.manage")
		}
		if lib != "" && lib != p.LibraryID {
			return nil, status.Error(codes.PermissionDenied, "managers see only their own library's staff")
		}
		lib = p.LibraryID
	}
	rows, err := s.db.Query(ctx, `SELECT `+accountCols+` FROM accounts
		WHERE kind = 'staff' AND ($1 = '' OR library_id = nullif($1, '')::uuid) ORDER BY username`, lib)
	if err != nil {
		return nil, store.Status(err)
	}
	accts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*pb.StaffAccount, error) { return scanAccount(r) })
	if err != nil {
		return nil, store.Status(err)
	}
	return &pb.ListStaffAccountsResponse{Accounts: accts}, nil
}

// DisableStaffAccount implements pb.LibraryServiceServer. The
// authentication interceptor reads disabled_at on every call, so tokens
// already issued stop working at once. Disabling twice is not an error.
func (s *Service) DisableStaffAccount(ctx context.Context, req *pb.DisableStaffAccountRequest) (*pb.DisableStaffAccountResponse, error) {
	if _, err := identity.RequireOperator(ctx); err != nil {
		return nil, err
	}
	a, err := scanAccount(s.db.QueryRow(ctx, `
		UPDATE accounts SET disabled_at = coalesce(disabled_at, $2), updated_at = $2
		WHERE id = $1 AND kind = 'staff' RETURNING `+accountCols, req.GetAccountId(), s.clock.Now()))
	if err != nil {
		return nil, store.Status(err)
	}
	s.changed(a.GetId())
	return &pb.DisableStaffAccountResponse{Account: a}, nil
}

// ResetStaffPassword implements pb.LibraryServiceServer: a new credentials
// version ends the account's sessions.
func (s *Service) ResetStaffPassword(ctx context.Context, req *pb.ResetStaffPasswordRequest) (*pb.ResetStaffPasswordResponse, error) {
	if _, err := identity.RequireOperator(ctx); err != nil {
		return nil, err
	}
	hash, err := auth.HashSecret(req.GetNewPassword(), s.hash)
	if err != nil {
		return nil, status.Error(codes.Internal, "internal error")
	}
	a, err := scanAccount(s.db.QueryRow(ctx, `
		UPDATE accounts SET password_hash = $2, credentials_version = credentials_version + 1, must_change_password = true,
			updated_at = $3
		WHERE id = $1 AND kind = 'staff' RETURNING `+accountCols, req.GetAccountId(), hash, s.clock.Now()))
	if err != nil {
		return nil, store.Status(err)
	}
	s.changed(a.GetId())
	return &pb.ResetStaffPasswordResponse{Account: a}, nil
}

// SetStaffRoles implements pb.LibraryServiceServer.
func (s *Service) SetStaffRoles(ctx context.Context, req *pb.SetStaffRolesRequest) (*pb.SetStaffRolesResponse, error) {
	if _, err := identity.RequireOperator(ctx); err != nil {
		return nil, err
	}
	a, err := scanAccount(s.db.QueryRow(ctx, `
		UPDATE accounts SET roles = $2, updated_at = $3
		WHERE id = $1 AND kind = 'staff' RETURNING `+accountCols,
		req.GetAccountId(), protoconv.RolesFromProto(req.GetRoles()), s.clock.Now()))
	if err != nil {
		return nil, store.Status(err)
	}
	s.changed(a.GetId())
	return &pb.SetStaffRolesResponse{Account: a}, nil
}
