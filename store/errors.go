package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// SQLSTATE codes Status and InTx look at.
const (
	codeUniqueViolation        = "23505"
	codeForeignKeyViolation    = "23503"
	codeCheckViolation         = "23514"
	codeNotNullViolation       = "23502"
	codeExclusionViolation     = "23P01"
	codeStringTooLong          = "22001"
	codeNumericOutOfRange      = "22003"
	codeNullValueNotAllowed    = "22004"
	codeInvalidDatetimeFormat  = "22007"
	codeDatetimeFieldOverflow  = "22008"
	codeInvalidParameterValue  = "22023"
	codeInvalidTextRepr        = "22P02"
	codeSerializationFailure   = "40001"
	codeDeadlockDetected       = "40P01"
	codeLockNotAvailable       = "55P03"
	codeQueryCanceled          = "57014"
	codeAdminShutdown          = "57P01"
	codeCrashShutdown          = "57P02"
	codeCannotConnectNow       = "57P03"
	codeTooManyConnections     = "53300"
	classConnectionException   = "08"
	classInsufficientResources = "53"
)

type constraintInfo struct{ field, description string }

var (
	constraintsMu sync.RWMutex
	constraints   = map[string]constraintInfo{}
)

// RegisterConstraint maps a database constraint name (unique constraint or
// unique index, check, foreign key or exclusion constraint) to the request
// field it guards and a description safe to show to clients, e.g.
//
//	store.RegisterConstraint("cards_pkey", "card_number", "card number already in use")
//
// Status then reports violations of that constraint with this description
// and an errdetails.BadRequest field violation. Constraint names must be
// unique across the schema (PostgreSQL's default names are prefixed with
// the table name). Call it from init or package-level var initialisation;
// it is safe for concurrent use. Registering the same name again with a
// different field or description panics.
func RegisterConstraint(name, field, description string) {
	constraintsMu.Lock()
	defer constraintsMu.Unlock()
	if old, ok := constraints[name]; ok && old != (constraintInfo{field, description}) {
		panic(fmt.Sprintf("store: constraint %q registered twice (%q, %q) and (%q, %q)", name, old.field, old.description, field, description))
	}
	constraints[name] = constraintInfo{field, description}
}

func lookupConstraint(name string) (constraintInfo, bool) {
	constraintsMu.RLock()
	defer constraintsMu.RUnlock()
	c, ok := constraints[name]
	return c, ok
}

// IsConstraint reports whether err is a PostgreSQL error raised by the
// named constraint (for callers that handle a specific violation, e.g.
// retrying with a new generated code).
func IsConstraint(err error, name string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.ConstraintName == name
}

// Status converts an error from the database layer into a gRPC status error.
// It is the one place where that mapping happens:
//
//	nil                                       nil
//	an error carrying a gRPC status           that status, unchanged
//	context.Canceled / DeadlineExceeded       Canceled / DeadlineExceeded
//	pgx.ErrNoRows, sql.ErrNoRows              NotFound "not found"
//	23505 unique_violation                    AlreadyExists + BadRequest (registered field)
//	23P01 exclusion_violation                 AlreadyExists + BadRequest (registered field)
//	23503 foreign_key_violation:
//	  on INSERT/UPDATE of the referencing row InvalidArgument + BadRequest (registered field):
//	                                          the request names a row that does not exist
//	  on UPDATE/DELETE of the referenced row  FailedPrecondition: the row is still in use
//	23514 check_violation                     InvalidArgument + BadRequest (registered field)
//	23502 not_null_violation                  InvalidArgument + BadRequest (column name)
//	22P02, 22007, 22008, 22001, 22003,
//	  22004, 22023 (bad input values)         InvalidArgument
//	40001, 40P01 (after InTx's retries)       Aborted
//	55P03 lock_not_available                  Unavailable
//	53300, other class 53, class 08,
//	  57P01-57P03, connection failures        Unavailable
//	57014 query_canceled                      DeadlineExceeded (statement_timeout), or
//	                                          Canceled if cancelled on request (see StatusContext)
//	anything else                             Internal "internal error"
//
// PostgreSQL's message and detail are never used: they quote row values,
// e.g. "Key (card_number)=(123) already exists", which may be personal
// data. Clients see the description registered with RegisterConstraint, or
// a generic message naming only the constraint. The foreign key direction
// is told apart by PostgreSQL's (English) message prefix; with a server
// that reports translated messages both directions give FailedPrecondition.
// Status logs nothing; callers log the original error if they want to.
func Status(err error) error {
	if err == nil {
		return nil
	}
	var se interface{ GRPCStatus() *status.Status }
	if errors.As(err, &se) {
		if st := se.GRPCStatus(); st != nil {
			return st.Err()
		}
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "request canceled")
	case errors.Is(err, pgx.ErrNoRows), errors.Is(err, sql.ErrNoRows):
		return status.Error(codes.NotFound, "not found")
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgStatus(pgErr)
	}
	var connErr *pgconn.ConnectError
	if errors.As(err, &connErr) {
		return status.Error(codes.Unavailable, "database unavailable")
	}
	return status.Error(codes.Internal, "internal error")
}

// StatusContext is Status for a request whose context is ctx: if ctx has
// ended and err is a cancellation (57014 or a context error), the status
// follows ctx (Canceled or DeadlineExceeded) rather than the error.
func StatusContext(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if cerr := ctx.Err(); cerr != nil {
		var pgErr *pgconn.PgError
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
			errors.As(err, &pgErr) && pgErr.Code == codeQueryCanceled {
			return Status(cerr)
		}
	}
	return Status(err)
}

func pgStatus(e *pgconn.PgError) error {
	switch e.Code {
	case codeUniqueViolation, codeExclusionViolation:
		return constraintStatus(codes.AlreadyExists, e.ConstraintName, "already exists")
	case codeForeignKeyViolation:
		if strings.HasPrefix(e.Message, "insert or update") {
			return constraintStatus(codes.InvalidArgument, e.ConstraintName, "refers to a row that does not exist")
		}
		return status.Error(codes.FailedPrecondition, withConstraint("still in use", e.ConstraintName))
	case codeCheckViolation:
		return constraintStatus(codes.InvalidArgument, e.ConstraintName, "invalid value")
	case codeNotNullViolation:
		if e.ColumnName == "" {
			return status.Error(codes.InvalidArgument, "missing required value")
		}
		msg := e.ColumnName + " is required"
		return withBadRequest(codes.InvalidArgument, msg, e.ColumnName, msg)
	case codeInvalidTextRepr:
		return status.Error(codes.InvalidArgument, "invalid value syntax")
	case codeInvalidDatetimeFormat, codeDatetimeFieldOverflow:
		return status.Error(codes.InvalidArgument, "invalid date or time value")
	case codeStringTooLong:
		return status.Error(codes.InvalidArgument, "value too long")
	case codeNumericOutOfRange:
		return status.Error(codes.InvalidArgument, "value out of range")
	case codeNullValueNotAllowed:
		return status.Error(codes.InvalidArgument, "missing required value")
	case codeInvalidParameterValue:
		return status.Error(codes.InvalidArgument, "invalid parameter value")
	case codeSerializationFailure, codeDeadlockDetected:
		return status.Error(codes.Aborted, "transaction conflict; retry")
	case codeLockNotAvailable:
		return status.Error(codes.Unavailable, "resource busy; retry")
	case codeQueryCanceled:
		if strings.Contains(e.Message, "user request") {
			return status.Error(codes.Canceled, "request canceled")
		}
		return status.Error(codes.DeadlineExceeded, "query timed out")
	case codeTooManyConnections, codeAdminShutdown, codeCrashShutdown, codeCannotConnectNow:
		return status.Error(codes.Unavailable, "database unavailable")
	}
	if strings.HasPrefix(e.Code, classConnectionException) || strings.HasPrefix(e.Code, classInsufficientResources) {
		return status.Error(codes.Unavailable, "database unavailable")
	}
	return status.Error(codes.Internal, "internal error")
}

// constraintStatus builds the status for a violation of constraint: the
// registered description and field, or a generic message naming the
// constraint.
func constraintStatus(code codes.Code, constraint, generic string) error {
	if c, ok := lookupConstraint(constraint); ok && constraint != "" {
		if c.field == "" {
			return status.Error(code, c.description)
		}
		return withBadRequest(code, c.description, c.field, c.description)
	}
	return status.Error(code, withConstraint(generic, constraint))
}

func withConstraint(msg, constraint string) string {
	if constraint == "" {
		return msg
	}
	return fmt.Sprintf("%s (constraint %s)", msg, constraint)
}

// InvalidField is INVALID_ARGUMENT naming a request field, with the field
// violation in the details. msg describes the problem and must not contain
// the value (it may be personal data).
func InvalidField(field, msg string) error {
	return withBadRequest(codes.InvalidArgument, "invalid "+field+": "+msg, field, msg)
}

func withBadRequest(code codes.Code, msg, field, description string) error {
	st := status.New(code, msg)
	if d, err := st.WithDetails(&errdetails.BadRequest{
		FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: field, Description: description}},
	}); err == nil {
		st = d
	}
	return st.Err()
}
