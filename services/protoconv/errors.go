package protoconv

import (
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// InvalidField is INVALID_ARGUMENT naming field, with the field violation
// in the details; msg never holds the value.
func InvalidField(field, msg string) error {
	st := status.New(codes.InvalidArgument, "invalid "+field+": "+msg)
	if d, err := st.WithDetails(&errdetails.BadRequest{
		FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: field, Description: msg}},
	}); err == nil {
		st = d
	}
	return st.Err()
}
