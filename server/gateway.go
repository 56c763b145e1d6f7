package server

import (
	"context"
	"net/http"
	"regexp"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/patronfed/patronfed/gen/openapi"
)

// httpStatus maps gRPC codes to HTTP the way clients of a REST API expect.
// It differs from grpc-gateway's default in two places: FAILED_PRECONDITION
// is 412 (the request was fine, the state of the resource is not), and
// ABORTED (a concurrent change) is 409.
func httpStatus(c codes.Code) int {
	switch c {
	case codes.OK:
		return http.StatusOK
	case codes.InvalidArgument, codes.OutOfRange:
		return http.StatusBadRequest
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	case codes.PermissionDenied:
		return http.StatusForbidden
	case codes.NotFound:
		return http.StatusNotFound
	case codes.AlreadyExists, codes.Aborted:
		return http.StatusConflict
	case codes.FailedPrecondition:
		return http.StatusPreconditionFailed
	case codes.ResourceExhausted:
		return http.StatusTooManyRequests
	case codes.Canceled:
		return 499
	case codes.Unimplemented:
		return http.StatusNotImplemented
	case codes.Unavailable:
		return http.StatusServiceUnavailable
	case codes.DeadlineExceeded:
		return http.StatusGatewayTimeout
	default:
		return http.StatusInternalServerError
	}
}

// errorHandler writes the gRPC status (with its details, e.g. field
// violations) as JSON under the HTTP code of httpStatus.
func errorHandler(ctx context.Context, _ *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, _ *http.Request, err error) {
	st := status.Convert(err)
	fromServer := false
	if md, ok := runtime.ServerMetadataFromContext(ctx); ok {
		if v := md.HeaderMD.Get(RequestIDHeader); len(v) > 0 {
			w.Header().Set("X-Request-Id", v[0])
			fromServer = true
		}
	}
	if !fromServer && st.Code() == codes.InvalidArgument {
		st = status.New(codes.InvalidArgument, gatewayDecodeMessage(st.Message()))
	}
	pb := st.Proto()
	body, merr := m.Marshal(pb)
	if merr != nil {
		http.Error(w, `{"code":13,"message":"internal error"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	code := httpStatus(st.Code())
	if code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="patronfed"`)
	}
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

var unknownFieldRE = regexp.MustCompile(`unknown field "[A-Za-z0-9_]+"`)

// gatewayDecodeMessage rewrites an error the gateway raised itself while
// decoding the request (the server never saw it). protojson quotes the
// offending token, which may be a national identifier sent with the wrong
// JSON type, so only an unknown field's name is kept.
func gatewayDecodeMessage(msg string) string {
	if f := unknownFieldRE.FindString(msg); f != "" {
		return "invalid request body: " + f
	}
	return "invalid request: a value in the body or path has the wrong type or format for this method"
}

func newGatewayMux() *runtime.ServeMux {
	return runtime.NewServeMux(
		runtime.WithErrorHandler(errorHandler),
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.JSONPb{
			MarshalOptions: protojson.MarshalOptions{EmitUnpopulated: false},
			// Unknown fields are an error, not silently dropped: a typo in a
			// field name must not lose data.
			UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
		}),
		runtime.WithIncomingHeaderMatcher(func(h string) (string, bool) {
			if strings.EqualFold(h, RequestIDHeader) {
				return RequestIDHeader, true
			}
			return runtime.DefaultHeaderMatcher(h)
		}),
		runtime.WithOutgoingHeaderMatcher(func(h string) (string, bool) {
			if h == RequestIDHeader {
				return "X-Request-Id", true
			}
			return "", false
		}),
	)
}

func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openapi.JSON)
}
