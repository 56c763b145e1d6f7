package rights

import (
	"time"

	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
	"github.com/patronfed/patronfed/rights"
	"github.com/patronfed/patronfed/services/protoconv"
)

func kindOf(k pb.RightsRequestKind) string {
	if k == pb.RightsRequestKind_RIGHTS_REQUEST_KIND_ERASURE {
		return rights.KindErasure
	}
	return rights.KindAccess
}

var kinds = map[string]pb.RightsRequestKind{
	rights.KindAccess:  pb.RightsRequestKind_RIGHTS_REQUEST_KIND_ACCESS,
	rights.KindErasure: pb.RightsRequestKind_RIGHTS_REQUEST_KIND_ERASURE,
}

var statuses = map[string]pb.RightsRequestStatus{
	rights.StatusPending:   pb.RightsRequestStatus_RIGHTS_REQUEST_STATUS_PENDING,
	rights.StatusFulfilled: pb.RightsRequestStatus_RIGHTS_REQUEST_STATUS_FULFILLED,
	rights.StatusRefused:   pb.RightsRequestStatus_RIGHTS_REQUEST_STATUS_REFUSED,
}

var actorKinds = map[string]pb.RightsActorKind{
	rights.ActorPatron: pb.RightsActorKind_RIGHTS_ACTOR_KIND_PATRON,
	rights.ActorStaff:  pb.RightsActorKind_RIGHTS_ACTOR_KIND_STAFF,
}

func requestToProto(r *rights.Request, now time.Time) *pb.RightsRequest {
	return &pb.RightsRequest{
		Id: r.ID, PatronId: r.PatronID, LibraryId: r.LibraryID,
		Kind: kinds[r.Kind], Status: statuses[r.Status],
		RequestedByKind: actorKinds[r.RequestedBy.Kind], RequestedByAccountId: r.RequestedBy.ID,
		RequestTime: protoconv.Time(r.RequestedAt), DueTime: protoconv.Time(r.DueAt), CloseTime: protoconv.TimePtr(r.ClosedAt),
		ClosedByKind: actorKinds[r.ClosedBy.Kind], ClosedByAccountId: r.ClosedBy.ID,
		Overdue: r.Overdue(now), RefusalReasons: r.RefusalReasons,
	}
}

func confirmationToProto(c *rights.Confirmation) *pb.ErasureConfirmation {
	if c == nil {
		return nil
	}
	return &pb.ErasureConfirmation{
		Id: c.ID, RequestId: c.RequestID, PatronId: c.PatronID, LibraryId: c.LibraryID,
		EraseTime: protoconv.Time(c.ErasedAt), ErasedByKind: actorKinds[c.ErasedBy.Kind], ErasedByAccountId: c.ErasedBy.ID,
		Summary: c.Summary, Text: c.Text,
	}
}
