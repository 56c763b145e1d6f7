package circulation

import (
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Errors of the lending rules. Their messages are shown to staff and
// patrons and name no person.
var (
	ErrItemNotFound     = status.Error(codes.NotFound, "no item with this barcode")
	ErrItemOnLoan       = status.Error(codes.FailedPrecondition, "item is already on loan")
	ErrItemNotLendable  = status.Error(codes.FailedPrecondition, "item is not available for loan (missing or withdrawn)")
	ErrItemNotOnLoan    = status.Error(codes.FailedPrecondition, "item is not on loan")
	ErrItemReserved     = status.Error(codes.FailedPrecondition, "item is reserved for another patron")
	ErrLoanNotFound     = status.Error(codes.NotFound, "no active loan with this id")
	ErrNotLendingLib    = status.Error(codes.PermissionDenied, "only staff of the lending library can handle this loan")
	ErrRenewalLimit     = status.Error(codes.FailedPrecondition, "loan has reached the lending library's renewal limit")
	ErrReservationGone  = status.Error(codes.NotFound, "no active reservation with this id")
	ErrAlreadyReserved  = status.Error(codes.FailedPrecondition, "patron already has an active reservation for this item")
	ErrAlreadyBorrowing = status.Error(codes.FailedPrecondition, "patron already has this item on loan")
	ErrFeeNotFound      = status.Error(codes.NotFound, "no fee with this id")
	ErrOverpayment      = status.Error(codes.FailedPrecondition, "payment exceeds the amount still owed on the fee")
	ErrNothingToClaim   = status.Error(codes.FailedPrecondition, "patron has no overdue items or unpaid fees at this library")
	ErrNoLoanToCharge   = status.Error(codes.FailedPrecondition, "item has no loan this library can charge")
	ErrEntryNotFound    = status.Error(codes.NotFound, "no history entry with this id")
	ErrNotOwningLib     = status.Error(codes.PermissionDenied, "only staff of the owning library can change the item")
	ErrItemOnLoanStatus = status.Error(codes.FailedPrecondition, "item is on loan: check it in before changing its status")
)

// Errors of title holds (reservations of a catalogue record).
var (
	ErrRecordNotLendable = status.Error(codes.FailedPrecondition,
		"no copy of this title can be lent: the catalogue has no copy of the record, or every copy is missing or withdrawn")
	ErrAlreadyReservedRecord  = status.Error(codes.FailedPrecondition, "patron already has an active reservation for this title")
	ErrAlreadyBorrowingRecord = status.Error(codes.FailedPrecondition, "patron already has a copy of this title on loan")
	ErrTitleReserved          = status.Error(codes.FailedPrecondition,
		"another patron is waiting for this title and no other copy is on the shelf for them")
)

// blocked is the FailedPrecondition for a patron who may not borrow.
func blocked(reason string) error {
	return status.Error(codes.FailedPrecondition, "patron may not borrow: "+reason)
}

var errExpiryInPast = status.Error(codes.InvalidArgument, "expire_time must be in the future")

// itemHeld refuses to withdraw or lose an item that n item holds wait for.
func itemHeld(n int) error {
	return status.Errorf(codes.FailedPrecondition,
		"item has %d active reservation(s) waiting for it: cancel them before marking it missing or withdrawn", n)
}

// itemInTransit refuses to lend a copy travelling to another library.
func itemInTransit(to string) error {
	return status.Errorf(codes.FailedPrecondition,
		"item is in transit to library %s for a reservation: it can be lent there once it has arrived", to)
}

// notOnShelf is the NotFound for a reservation that is not waiting on the
// caller's hold shelf (none with this id, another library's, not ready, or
// ended). The id is the caller's own input, not a person.
func notOnShelf(id string) error {
	return status.Errorf(codes.NotFound, "reservation %s is not waiting on this library's hold shelf", id)
}
