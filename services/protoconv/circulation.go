package protoconv

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/patronfed/patronfed/circulation"
	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
)

var itemStatuses = map[string]pb.ItemStatus{
	circulation.ItemAvailable: pb.ItemStatus_ITEM_STATUS_AVAILABLE,
	circulation.ItemOnLoan:    pb.ItemStatus_ITEM_STATUS_ON_LOAN,
	circulation.ItemMissing:   pb.ItemStatus_ITEM_STATUS_MISSING,
	circulation.ItemWithdrawn: pb.ItemStatus_ITEM_STATUS_WITHDRAWN,
}

// Item converts an item.
func Item(it circulation.Item) *pb.Item {
	return &pb.Item{Id: it.ID, Barcode: it.Barcode, Title: it.Title, OwningLibraryId: it.OwningLibraryID, Status: itemStatuses[it.Status],
		RecordId: it.RecordID, TransitToLibraryId: it.TransitToLibraryID,
		TransitFromLibraryId: it.TransitFromLibraryID, HoldShelfLibraryId: it.HoldShelfLibraryID}
}

// Loan converts an active loan; patron is nil in the patron's own view.
func Loan(l circulation.Loan, now time.Time, patron *pb.LoanPatron) *pb.Loan {
	return &pb.Loan{
		Id: l.ID, Item: Item(l.Item), LendingLibraryId: l.LendingLibraryID,
		CheckoutTime: Time(l.CheckedOutAt), DueTime: Time(l.DueAt),
		Renewals: int32(l.Renewals), MaxRenewals: int32(l.MaxRenewals), Overdue: l.Overdue(now),
		Patron: patron,
	}
}

// Reservation converts an active reservation; patron is nil in the
// patron's own view. A title hold waiting for a copy has no item.
func Reservation(r circulation.Reservation, patron *pb.LoanPatron) *pb.Reservation {
	out := &pb.Reservation{
		Id: r.ID, PickupLibraryId: r.PickupLibraryID,
		PlaceTime: Time(r.PlacedAt), ExpireTime: Time(r.ExpiresAt), QueuePosition: int32(r.QueuePosition),
		Patron: patron, RecordId: r.RecordID, Title: r.Title, ReadyTime: TimePtr(r.ReadyAt),
		NotifyTime: TimePtr(r.NotifiedAt),
	}
	if r.Item.ID != "" {
		out.Item = Item(r.Item)
	}
	return out
}

var feeKinds = map[string]pb.FeeKind{
	circulation.FeeOverdue: pb.FeeKind_FEE_KIND_OVERDUE,
	circulation.FeeDamage:  pb.FeeKind_FEE_KIND_DAMAGE,
}

// Fee converts a fee.
func Fee(f circulation.Fee) *pb.Fee {
	return &pb.Fee{
		Id: f.ID, Kind: feeKinds[f.Kind], Amount: f.Amount, Currency: f.Currency, PaidAmount: f.PaidAmount,
		LibraryId: f.LibraryID, ChargeTime: Time(f.ChargedAt), SettleTime: TimePtr(f.SettledAt),
		LoanId: f.LoanID, ItemBarcode: f.ItemBarcode, Title: f.Title,
	}
}

// StaffFee is Fee for staff: once the loan has ended it is history, so
// the fee is shown without its loan and item (amount, kind, dates remain).
func StaffFee(f circulation.Fee) *pb.Fee {
	if !f.LoanActive {
		f.LoanID, f.ItemBarcode, f.Title = "", "", ""
	}
	return Fee(f)
}

// Fees converts a list of fees with conv (Fee or StaffFee).
func Fees(fs []circulation.Fee, conv func(circulation.Fee) *pb.Fee) []*pb.Fee {
	out := make([]*pb.Fee, len(fs))
	for i, f := range fs {
		out[i] = conv(f)
	}
	return out
}

var noticeKinds = map[string]pb.NoticeKind{
	circulation.NoticeReminder:     pb.NoticeKind_NOTICE_KIND_REMINDER,
	circulation.NoticeDemandLetter: pb.NoticeKind_NOTICE_KIND_DEMAND_LETTER,
}

// NoticeKindName is the stored name of k.
func NoticeKindName(k pb.NoticeKind) string {
	for name, v := range noticeKinds {
		if v == k {
			return name
		}
	}
	return ""
}

// Notice converts a notice with its claims, as the patron sees it.
func Notice(n circulation.Notice) *pb.Notice { return notice(n, false) }

// StaffNotice is Notice for staff: item claims whose loan has ended are
// shown without the item (like StaffFee).
func StaffNotice(n circulation.Notice) *pb.Notice { return notice(n, true) }

func notice(n circulation.Notice, staff bool) *pb.Notice {
	out := &pb.Notice{Id: n.ID, Kind: noticeKinds[n.Kind], LibraryId: n.LibraryID, CreateTime: Time(n.CreatedAt)}
	for _, c := range n.Claims {
		if staff && c.Kind == circulation.ClaimItem && !c.LoanActive {
			c.Barcode, c.Title = "", ""
		}
		pc := &pb.Claim{ItemBarcode: c.Barcode, Title: c.Title, DueTime: TimePtr(c.DueAt), FeeId: c.FeeID, Amount: c.Amount, Currency: c.Currency}
		switch c.Kind {
		case circulation.ClaimItem:
			pc.Kind = pb.ClaimKind_CLAIM_KIND_ITEM
		case circulation.ClaimFee:
			pc.Kind = pb.ClaimKind_CLAIM_KIND_FEE
		}
		out.Claims = append(out.Claims, pc)
	}
	return out
}

// Notices converts a list of notices with conv (Notice or StaffNotice).
func Notices(ns []circulation.Notice, conv func(circulation.Notice) *pb.Notice) []*pb.Notice {
	out := make([]*pb.Notice, len(ns))
	for i, n := range ns {
		out[i] = conv(n)
	}
	return out
}

// Debts converts what a patron owes, with its reasons in words.
func Debts(d circulation.PatronDebts) *pb.Debts {
	out := &pb.Debts{Suspended: d.Suspended, SuspensionReason: d.SuspensionReason,
		SuspendedUntil: TimePtr(d.SuspendedUntil), Reasons: d.Reasons()}
	for _, it := range d.UnreturnedItems {
		out.UnreturnedItems = append(out.UnreturnedItems, &pb.DebtItem{
			ItemBarcode: it.Barcode, Title: it.Title, DueTime: Time(it.Due), LendingLibraryId: it.LendingLibraryID})
	}
	for _, f := range d.UnpaidFees {
		out.UnpaidFees = append(out.UnpaidFees, &pb.DebtFee{FeeId: f.ID, Amount: f.Amount, Currency: f.Currency, Kind: feeKinds[f.Kind]})
	}
	return out
}

// DefaultPageSize is used when a list request names no page size.
const DefaultPageSize = 50

// Page reads page_size and an offset page token (as written by
// NextPageToken); a token that does not parse is INVALID_ARGUMENT.
func Page(size int32, token string) (limit, offset int, err error) {
	limit = int(size)
	if limit <= 0 {
		limit = DefaultPageSize
	}
	if token == "" {
		return limit, 0, nil
	}
	raw, derr := base64.RawURLEncoding.DecodeString(token)
	s, ok := strings.CutPrefix(string(raw), "o:")
	if derr == nil && ok {
		if offset, err := strconv.Atoi(s); err == nil && offset >= 0 {
			return limit, offset, nil
		}
	}
	return 0, 0, status.Error(codes.InvalidArgument, "invalid page_token")
}

// NextPageToken is the token of the page after one of n rows read at
// offset with limit, or "" when that was the last page.
func NextPageToken(offset, limit, n int) string {
	if n < limit {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString([]byte("o:" + strconv.Itoa(offset+n)))
}
