// Package protoconv converts between domain values and their protobuf form
// where more than one service needs the same conversion.
package protoconv

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
	"github.com/patronfed/patronfed/identity"
)

var roleNames = map[pb.Role]string{
	pb.Role_ROLE_CIRCULATION:      identity.RoleCirculation,
	pb.Role_ROLE_REGISTRAR:        identity.RoleRegistrar,
	pb.Role_ROLE_MANAGER:          identity.RoleManager,
	pb.Role_ROLE_SPECIAL_CATEGORY: identity.RoleSpecialCategory,
}

// RolesFromProto returns the stored names of roles; unknown values are dropped
// (validation has refused them already).
func RolesFromProto(roles []pb.Role) []string {
	out := make([]string, 0, len(roles))
	for _, r := range roles {
		if n, ok := roleNames[r]; ok {
			out = append(out, n)
		}
	}
	return out
}

// RolesToProto is the inverse of RolesFromProto.
func RolesToProto(names []string) []pb.Role {
	out := make([]pb.Role, 0, len(names))
	for _, n := range names {
		for r, rn := range roleNames {
			if rn == n {
				out = append(out, r)
			}
		}
	}
	return out
}

// Time converts t, or nil for the zero time / nil pointer.
func Time(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// TimePtr converts a nullable time.
func TimePtr(t *time.Time) *timestamppb.Timestamp {
	if t == nil {
		return nil
	}
	return Time(*t)
}

// Principal describes the caller.
func Principal(p identity.Principal) *pb.Principal {
	out := &pb.Principal{
		Id:          p.ID,
		Username:    p.Username,
		LibraryId:   p.LibraryID,
		Roles:       RolesToProto(p.Roles),
		Permissions: p.Permissions,
		TokenId:     p.TokenID,

		MustChangePassword: p.MustChangePassword,
	}
	switch p.Kind {
	case identity.KindStaff:
		out.Kind = pb.PrincipalKind_PRINCIPAL_KIND_STAFF
	case identity.KindOperator:
		out.Kind = pb.PrincipalKind_PRINCIPAL_KIND_OPERATOR
	case identity.KindPatron:
		out.Kind = pb.PrincipalKind_PRINCIPAL_KIND_PATRON
	}
	return out
}
