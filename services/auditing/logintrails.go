package auditing

import (
	"context"
	"net/netip"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
	"github.com/patronfed/patronfed/identity"
	"github.com/patronfed/patronfed/logintrail"
	"github.com/patronfed/patronfed/services/pagetoken"
	"github.com/patronfed/patronfed/store"
)

// ListLoginTrails implements pb.AuditServiceServer.
func (s *Service) ListLoginTrails(ctx context.Context, req *pb.ListLoginTrailsRequest) (*pb.ListLoginTrailsResponse, error) {
	if _, err := identity.RequireOperator(ctx); err != nil {
		return nil, err
	}
	f := logintrail.Filter{
		From: ts(req.GetStartTime()), To: ts(req.GetEndTime()),
		Accounts: req.GetKind() == pb.LoginTrailKind_LOGIN_TRAIL_KIND_ACCOUNT,
		Patrons:  req.GetKind() == pb.LoginTrailKind_LOGIN_TRAIL_KIND_PATRON,
	}
	if a := req.GetAddress(); a != "" {
		// protovalidate has checked the form; an address is its own /32
		// or /128 network.
		var err error
		if strings.Contains(a, "/") {
			f.Network, err = netip.ParsePrefix(a)
		} else {
			var ip netip.Addr
			if ip, err = netip.ParseAddr(a); err == nil {
				f.Network = netip.PrefixFrom(ip, ip.BitLen())
			}
		}
		if err != nil {
			return nil, store.InvalidField("address", "must be an IP address or a network such as 203.0.113.0/24")
		}
	}
	raw, err := pagetoken.ParseString(req.GetPageToken())
	if err != nil {
		return nil, err
	}
	after, err := logintrail.ParseCursor(raw)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, "invalid page_token")
	}
	size := pagetoken.Size(req.GetPageSize(), 100)
	trails, err := logintrail.List(ctx, s.db, f, after, size+1)
	if err != nil {
		return nil, store.StatusContext(ctx, err)
	}
	resp := &pb.ListLoginTrailsResponse{}
	if len(trails) > size {
		trails = trails[:size]
		last := trails[size-1]
		resp.NextPageToken = pagetoken.String(logintrail.Cursor{At: last.At, Kind: last.Kind, ID: last.ID}.String())
	}
	for _, t := range trails {
		resp.Trails = append(resp.Trails, &pb.LoginTrail{
			Kind: t.Kind, Id: t.ID, Username: t.Username, LibraryId: t.LibraryID,
			Time: timestamppb.New(t.At), Address: t.Address,
		})
	}
	return resp, nil
}
