package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"buf.build/go/protovalidate"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/patronfed/patronfed/identity"
	"github.com/patronfed/patronfed/requestid"
)

// RequestIDHeader carries the request id in and out (gRPC metadata and HTTP).
const RequestIDHeader = "x-request-id"

// RequestID returns the id of the request ctx belongs to.
func RequestID(ctx context.Context) string { return requestid.From(ctx) }

func recoveryUnary(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if r := recover(); r != nil {
				// The panic value may hold request data: log its type and the stack only.
				log.Error("panic in handler", "method", info.FullMethod, "panic_type", fmt.Sprintf("%T", r), "stack", string(debug.Stack()))
				err = status.Error(codes.Internal, "internal error")
			}
		}()
		return h(ctx, req)
	}
}

func recoveryStream(log *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) (err error) {
		defer func() {
			if r := recover(); r != nil {
				log.Error("panic in stream handler", "method", info.FullMethod, "panic_type", fmt.Sprintf("%T", r), "stack", string(debug.Stack()))
				err = status.Error(codes.Internal, "internal error")
			}
		}()
		return h(srv, ss)
	}
}

// validRequestID accepts a client-supplied id only if it is short and plain,
// so it cannot smuggle data into logs.
func validRequestID(s string) bool {
	if len(s) < 8 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func requestIDUnary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		id := ""
		// ValueFromIncomingContext copies one header, not all of them.
		if v := metadata.ValueFromIncomingContext(ctx, RequestIDHeader); len(v) > 0 && validRequestID(v[0]) {
			id = v[0]
		}
		if id == "" {
			id = newRequestID()
		}
		_ = grpc.SetHeader(ctx, metadata.Pairs(RequestIDHeader, id))
		return h(requestid.With(ctx, id), req)
	}
}

func loggingUnary(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		start := time.Now()
		resp, err := h(ctx, req)
		code := status.Code(err)
		attrs := []slog.Attr{
			slog.String("request_id", RequestID(ctx)),
			slog.String("method", info.FullMethod),
			slog.String("code", code.String()),
			slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
		}
		// The authentication interceptor runs inside this one and reports
		// the principal back through the slot. Patron ids are personal
		// data: for patrons log the kind only.
		if p, ok := principalOf(ctx); ok {
			attrs = append(attrs, slog.String("principal_kind", string(p.Kind)))
			if p.Kind != identity.KindPatron {
				attrs = append(attrs, slog.String("account_id", p.ID))
			}
		}
		level := slog.LevelInfo
		switch code {
		case codes.OK:
		case codes.Internal, codes.Unknown, codes.DataLoss:
			level = slog.LevelError
		default:
			level = slog.LevelWarn
			// Our own status messages carry no personal data (handlers are
			// written so); INTERNAL ones may wrap driver errors and are not logged.
			attrs = append(attrs, slog.String("error", status.Convert(err).Message()))
		}
		log.LogAttrs(ctx, level, "rpc", attrs...)
		return resp, err
	}
}

// principalSlot lets the authentication interceptor report the principal
// back to the logging interceptor that wraps it.
type principalSlotKey struct{}

type principalSlot struct {
	p  identity.Principal
	ok bool
}

func withPrincipalSlot(ctx context.Context) context.Context {
	return context.WithValue(ctx, principalSlotKey{}, &principalSlot{})
}

func principalOf(ctx context.Context) (identity.Principal, bool) {
	if s, ok := ctx.Value(principalSlotKey{}).(*principalSlot); ok && s.ok {
		return s.p, true
	}
	return identity.Principal{}, false
}

func recordPrincipal(ctx context.Context, p identity.Principal) {
	if s, ok := ctx.Value(principalSlotKey{}).(*principalSlot); ok {
		s.p, s.ok = p, true
	}
}

func slotUnary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		return h(withPrincipalSlot(ctx), req)
	}
}

// validationUnary checks protovalidate annotations and answers
// INVALID_ARGUMENT with a standard errdetails.BadRequest listing each field.
func validationUnary(v protovalidate.Validator) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		msg, ok := req.(proto.Message)
		if !ok {
			return h(ctx, req)
		}
		if err := v.Validate(msg); err != nil {
			return nil, ValidationStatus(err)
		}
		return h(ctx, req)
	}
}

// ValidationStatus turns a protovalidate error into INVALID_ARGUMENT with
// field violations. Violation messages name the rule, never the value.
func ValidationStatus(err error) error {
	var verr *protovalidate.ValidationError
	if !errors.As(err, &verr) {
		return status.Error(codes.Internal, "request validation failed to run")
	}
	br := &errdetails.BadRequest{}
	for _, viol := range verr.Violations {
		field := protovalidate.FieldPathString(viol.Proto.GetField())
		br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{
			Field:       field,
			Description: viol.Proto.GetMessage(),
			Reason:      viol.Proto.GetRuleId(),
		})
	}
	msg := "invalid request"
	if len(br.FieldViolations) > 0 {
		msg = fmt.Sprintf("invalid %s: %s", br.FieldViolations[0].Field, br.FieldViolations[0].Description)
	}
	st, derr := status.New(codes.InvalidArgument, msg).WithDetails(br)
	if derr != nil {
		return status.Error(codes.InvalidArgument, msg)
	}
	return st.Err()
}

type metrics struct {
	handled *prometheus.CounterVec
	latency *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "patronfed_grpc_server_handled_total",
			Help: "RPCs completed, by method and status code.",
		}, []string{"method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "patronfed_grpc_server_handling_seconds",
			Help:    "Handler latency in seconds, by method.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .25, .5, 1, 2.5},
		}, []string{"method"}),
	}
	reg.MustRegister(m.handled, m.latency)
	return m
}

func (m *metrics) unary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		start := time.Now()
		resp, err := h(ctx, req)
		m.latency.WithLabelValues(info.FullMethod).Observe(time.Since(start).Seconds())
		m.handled.WithLabelValues(info.FullMethod, status.Code(err).String()).Inc()
		return resp, err
	}
}
