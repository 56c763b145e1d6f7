package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
	"github.com/patronfed/patronfed/pgtest"
	"github.com/patronfed/patronfed/testserver"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func fieldViolations(err error) map[string]string {
	out := map[string]string{}
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				out[v.GetField()] = v.GetDescription()
			}
		}
	}
	return out
}

func TestValidationErrorsOverGRPCAndREST(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	op := s.Login(t, "operator")
	libs := pb.NewLibraryServiceClient(s.Conn)

	_, err := libs.CreateLibrary(testserver.Ctx(op), &pb.CreateLibraryRequest{Code: "bad code!", Name: "", Country: "Czechia"})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("want INVALID_ARGUMENT, got %v", err)
	}
	fv := fieldViolations(err)
	for _, f := range []string{"code", "name", "country"} {
		if fv[f] == "" {
			t.Errorf("no violation for %s in %v", f, fv)
		}
	}

	code, body := s.HTTP(t, http.MethodPost, "/v1/libraries", op, map[string]string{"code": "bad code!", "name": "X", "country": "CZ"})
	if code != http.StatusBadRequest {
		t.Fatalf("REST: %d %v", code, body)
	}
	raw, _ := json.Marshal(body)
	if !strings.Contains(string(raw), "fieldViolations") || !strings.Contains(string(raw), `"field":"code"`) {
		t.Fatalf("REST body lacks the field violation: %s", raw)
	}
	// An unknown JSON field is an error, not silently dropped.
	code, _ = s.HTTP(t, http.MethodPost, "/v1/libraries", op, map[string]string{"code": "NEW", "name": "X", "country": "CZ", "countyr": "CZ"})
	if code != http.StatusBadRequest {
		t.Fatalf("unknown field accepted: %d", code)
	}
	// Nothing was written by any failed request.
	var n int
	if err := s.DB.QueryRow(context.Background(), `SELECT count(*) FROM libraries`).Scan(&n); err != nil || n != 3 {
		t.Fatalf("libraries = %d (%v), want the 3 demo ones", n, err)
	}
}

func TestHTTPStatusMapping(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	op := s.Login(t, "operator")
	staff := s.Login(t, "brno.manager")

	cases := []struct {
		name, method, path, token string
		body                      any
		want                      int
	}{
		{"no token", http.MethodGet, "/v1/libraries", "", nil, http.StatusUnauthorized},
		{"staff may not create libraries", http.MethodPost, "/v1/libraries", staff, map[string]string{"code": "NEW", "name": "New", "country": "CZ"}, http.StatusForbidden},
		{"unknown library", http.MethodGet, "/v1/libraries/6f1c1f0e-0000-4000-8000-000000000000", op, nil, http.StatusNotFound},
		{"duplicate code", http.MethodPost, "/v1/libraries", op, map[string]string{"code": "BRNO", "name": "Again", "country": "CZ"}, http.StatusConflict},
		{"create", http.MethodPost, "/v1/libraries", op, map[string]string{"code": "NEW", "name": "New", "country": "CZ"}, http.StatusOK},
		{"list", http.MethodGet, "/v1/libraries", staff, nil, http.StatusOK},
	}
	for _, c := range cases {
		code, body := s.HTTP(t, c.method, c.path, c.token, c.body)
		if code != c.want {
			t.Errorf("%s: got %d want %d (%v)", c.name, code, c.want, body)
		}
	}
	// The duplicate names the field and not the value.
	_, err := pb.NewLibraryServiceClient(s.Conn).CreateLibrary(testserver.Ctx(op), &pb.CreateLibraryRequest{Code: "SLAV", Name: "x", Country: "CZ"})
	if status.Code(err) != codes.AlreadyExists || fieldViolations(err)["code"] == "" {
		t.Fatalf("duplicate: %v %v", err, fieldViolations(err))
	}
}

func TestHealthReflectionOpenAPI(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	hc, err := healthpb.NewHealthClient(s.Conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil || hc.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v %v", hc, err)
	}
	hc, err = healthpb.NewHealthClient(s.Conn).Check(context.Background(), &healthpb.HealthCheckRequest{Service: "patronfed.v1.AuthService"})
	if err != nil || hc.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("service health: %v %v", hc, err)
	}
	if code, _ := s.HTTPRaw(t, http.MethodGet, "/healthz", "", nil); code != http.StatusOK {
		t.Fatalf("/healthz: %d", code)
	}

	stream, err := reflectpb.NewServerReflectionClient(s.Conn).ServerReflectionInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectpb.ServerReflectionRequest{MessageRequest: &reflectpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, svc := range resp.GetListServicesResponse().GetService() {
		names = append(names, svc.GetName())
	}
	for _, want := range []string{"patronfed.v1.AuthService", "patronfed.v1.LibraryService", "grpc.health.v1.Health"} {
		if !strings.Contains(strings.Join(names, " "), want) {
			t.Errorf("reflection lacks %s: %v", want, names)
		}
	}

	code, raw := s.HTTPRaw(t, http.MethodGet, "/openapi.json", "", nil)
	var doc map[string]any
	if code != http.StatusOK || json.Unmarshal(raw, &doc) != nil || doc["swagger"] != "2.0" {
		t.Fatalf("/openapi.json: %d %.200s", code, raw)
	}
	if paths, _ := doc["paths"].(map[string]any); paths["/v1/auth/login"] == nil {
		t.Fatal("OpenAPI document lacks /v1/auth/login")
	}
}

func TestRequestIDIsEchoedAndLogged(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	tok := s.Login(t, "brno.circ")
	ctx := metadata.AppendToOutgoingContext(testserver.Ctx(tok), "x-request-id", "test-req-0001")
	var hdr metadata.MD
	if _, err := pb.NewLibraryServiceClient(s.Conn).ListLibraries(ctx, &pb.ListLibrariesRequest{}, grpcHeader(&hdr)); err != nil {
		t.Fatal(err)
	}
	if got := hdr.Get("x-request-id"); len(got) != 1 || got[0] != "test-req-0001" {
		t.Fatalf("request id header %v", got)
	}
	if !strings.Contains(s.Logs.String(), `"request_id":"test-req-0001"`) {
		t.Fatal("request id not in the log line")
	}
	// An id that could smuggle data into logs is replaced.
	ctx = metadata.AppendToOutgoingContext(testserver.Ctx(tok), "x-request-id", "Jana Novakova, 1980-01-01")
	hdr = nil
	if _, err := pb.NewLibraryServiceClient(s.Conn).ListLibraries(ctx, &pb.ListLibrariesRequest{}, grpcHeader(&hdr)); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(s.Logs.String(), "Novakova") || hdr.Get("x-request-id")[0] == "Jana Novakova, 1980-01-01" {
		t.Fatal("unsafe request id was accepted")
	}
}

// With a certificate configured, both ports speak TLS only, and the
// gateway's own loopback connection to the gRPC port is encrypted too
// (privacy-rules §5.1).
func TestTLSOnBothPorts(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t, testserver.WithTLS())
	tok := s.Login(t, "brno.circ") // gRPC over TLS
	if code, body := s.HTTP(t, http.MethodGet, "/v1/libraries", tok, nil); code != http.StatusOK {
		t.Fatalf("REST over TLS through the gateway: %d %v", code, body)
	}
	// Plaintext is refused on both ports.
	if _, err := http.Get("http://" + strings.TrimPrefix(s.HTTPURL, "https://") + "/healthz"); err == nil {
		resp, _ := http.Get("http://" + strings.TrimPrefix(s.HTTPURL, "https://") + "/healthz")
		if resp != nil && resp.StatusCode == http.StatusOK {
			t.Fatal("REST port answered plaintext HTTP")
		}
	}
	plain, err := grpc.NewClient(s.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if _, err := healthpb.NewHealthClient(plain).Check(context.Background(), &healthpb.HealthCheckRequest{}); err == nil {
		t.Fatal("gRPC port answered a plaintext client")
	}
}

// With tracing configured every RPC becomes a span named after its method;
// spans carry no request payload (the password below never appears).
func TestTracingSpansWithoutPayload(t *testing.T) {
	t.Parallel()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	s := testserver.Start(t, testserver.WithTracer(tp))
	s.Login(t, "brno.circ")
	_, _ = pb.NewAuthServiceClient(s.Conn).Login(context.Background(), &pb.LoginRequest{Username: "brno.circ", Password: "secret-wrong-pass"})
	spans := exp.GetSpans()
	found := false
	for _, sp := range spans {
		if sp.Name == "patronfed.v1.AuthService/Login" {
			found = true
		}
		raw := fmt.Sprintf("%v %v %v", sp.Attributes, sp.Events, sp.Status)
		if strings.Contains(raw, "secret-wrong-pass") || strings.Contains(raw, "demo-password") {
			t.Fatalf("span %s carries a password: %s", sp.Name, raw)
		}
	}
	if !found {
		t.Fatalf("no Login span among %d spans", len(spans))
	}
}
