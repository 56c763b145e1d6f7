package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"buf.build/go/protovalidate"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
)

// Service is one gRPC service and its REST mapping.
type Service interface {
	// Register adds the service to the gRPC server.
	Register(s *grpc.Server)
	// RegisterGateway maps the service's REST routes onto conn.
	RegisterGateway(ctx context.Context, mux *runtime.ServeMux, conn *grpc.ClientConn) error
}

// Options are the parts the server is built from.
type Options struct {
	Logger   *slog.Logger
	Auth     *Authenticator
	Services []Service
	// Registry receives the RPC metrics; nil makes a fresh one.
	Registry *prometheus.Registry
	// Tracer enables OpenTelemetry spans for every RPC when non-nil.
	Tracer trace.TracerProvider
	// TLS, when set, encrypts both the gRPC and the REST port; the gateway
	// then dials the gRPC port over TLS too, pinned to this certificate.
	TLS *tls.Config
	// Ready reports whether dependencies (the database) are reachable; it
	// backs /healthz.
	Ready func(context.Context) error
	// StreamWorkers is the number of long-lived goroutines that serve
	// calls (grpc.NumStreamWorkers); 0 starts a goroutine per call. Their
	// stacks stay grown, so the deeply recursive policy evaluation does
	// not grow a fresh stack on every call (docs/performance.md).
	StreamWorkers int
}

// Server is the gRPC server, the REST gateway and the metrics endpoint.
type Server struct {
	opts   Options
	grpc   *grpc.Server
	health *health.Server
	reg    *prometheus.Registry
}

// New builds the gRPC server with the interceptor chain and registers every
// service, health and reflection.
func New(o Options) (*Server, error) {
	if o.Logger == nil || o.Auth == nil {
		return nil, errors.New("server: logger and authenticator are required")
	}
	reg := o.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	validator, err := protovalidate.New()
	if err != nil {
		return nil, fmt.Errorf("server: protovalidate: %w", err)
	}
	m := newMetrics(reg)
	sopts := []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(
			recoveryUnary(o.Logger),
			requestIDUnary(),
			slotUnary(),
			loggingUnary(o.Logger),
			o.Auth.unary(),
			validationUnary(validator),
			m.unary(),
		),
		grpc.ChainStreamInterceptor(recoveryStream(o.Logger), o.Auth.stream()),
	}
	if o.TLS != nil {
		sopts = append(sopts, grpc.Creds(credentials.NewTLS(o.TLS)))
	}
	if o.Tracer != nil {
		sopts = append(sopts, grpc.StatsHandler(otelgrpc.NewServerHandler(otelgrpc.WithTracerProvider(o.Tracer))))
	}
	if o.StreamWorkers > 0 {
		sopts = append(sopts, grpc.NumStreamWorkers(uint32(o.StreamWorkers)))
	}
	gs := grpc.NewServer(sopts...)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	reflection.Register(gs)
	for _, svc := range o.Services {
		svc.Register(gs)
	}
	for name := range gs.GetServiceInfo() {
		hs.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
	}
	return &Server{opts: o, grpc: gs, health: hs, reg: reg}, nil
}

// GRPC exposes the underlying server (for tests that add services).
func (s *Server) GRPC() *grpc.Server { return s.grpc }

// dialTarget turns a listen address into one a client can dial.
func dialTarget(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// Serve runs until ctx ends, then shuts down gracefully: health turns
// NOT_SERVING, HTTP stops taking requests, in-flight RPCs finish (up to
// 15 s). metricsLis may be nil.
func (s *Server) Serve(ctx context.Context, grpcLis, httpLis, metricsLis net.Listener) error {
	conn, err := grpc.NewClient(dialTarget(grpcLis.Addr()), grpc.WithTransportCredentials(s.gatewayCreds()))
	if err != nil {
		return fmt.Errorf("gateway dial: %w", err)
	}
	defer conn.Close()

	mux := newGatewayMux()
	for _, svc := range s.opts.Services {
		if err := svc.RegisterGateway(ctx, mux, conn); err != nil {
			return fmt.Errorf("gateway register: %w", err)
		}
	}
	httpMux := http.NewServeMux()
	httpMux.HandleFunc("GET /openapi.json", serveOpenAPI)
	httpMux.HandleFunc("GET /healthz", s.healthz)
	httpMux.Handle("/", mux)
	httpSrv := &http.Server{Handler: httpMux, ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 64 << 10, TLSConfig: s.opts.TLS}
	serveHTTP := httpSrv.Serve
	if s.opts.TLS != nil {
		serveHTTP = func(l net.Listener) error { return httpSrv.ServeTLS(l, "", "") }
	}

	var metricsSrv *http.Server
	if metricsLis != nil {
		mm := http.NewServeMux()
		mm.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
		mm.HandleFunc("GET /healthz", s.healthz)
		metricsSrv = &http.Server{Handler: mm, ReadHeaderTimeout: 10 * time.Second}
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.grpc.Serve(grpcLis) })
	g.Go(func() error {
		if err := serveHTTP(httpLis); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	if metricsSrv != nil {
		g.Go(func() error {
			if err := metricsSrv.Serve(metricsLis); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
	}
	g.Go(func() error {
		<-gctx.Done()
		s.opts.Logger.Info("shutting down")
		s.health.Shutdown()
		sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_ = httpSrv.Shutdown(sctx)
		if metricsSrv != nil {
			_ = metricsSrv.Shutdown(sctx)
		}
		done := make(chan struct{})
		go func() { s.grpc.GracefulStop(); close(done) }()
		select {
		case <-done:
		case <-sctx.Done():
			s.grpc.Stop()
		}
		return nil
	})
	s.opts.Logger.Info("serving", "grpc", grpcLis.Addr().String(), "http", httpLis.Addr().String())
	err = g.Wait()
	if ctx.Err() != nil && (err == nil || errors.Is(err, grpc.ErrServerStopped)) {
		return nil
	}
	return err
}

// gatewayCreds are the gateway's credentials for its loopback connection to
// the gRPC port: plaintext when the server is, else TLS pinned to the
// server's own certificate (whatever names the certificate carries).
func (s *Server) gatewayCreds() credentials.TransportCredentials {
	if s.opts.TLS == nil || len(s.opts.TLS.Certificates) == 0 {
		return insecure.NewCredentials()
	}
	own := s.opts.TLS.Certificates[0].Certificate[0]
	return credentials.NewTLS(&tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // replaced by the pin below
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 || !bytes.Equal(raw[0], own) {
				return errors.New("gateway: gRPC port presented another certificate")
			}
			return nil
		},
	})
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if s.opts.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.opts.Ready(ctx); err != nil {
			http.Error(w, `{"status":"NOT_SERVING"}`, http.StatusServiceUnavailable)
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"status":"SERVING"}`))
}
