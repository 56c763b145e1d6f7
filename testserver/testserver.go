// Package testserver runs the whole product for integration tests: a fresh
// database cloned from the migrated template (package pgtest), the app built
// exactly as `patronfed serve` builds it, serving real gRPC and the real REST
// gateway on loopback ports, with a controllable clock and captured logs.
//
// A test package using it needs
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
package testserver

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/patronfed/patronfed/app"
	"github.com/patronfed/patronfed/auth"
	"github.com/patronfed/patronfed/clock"
	"github.com/patronfed/patronfed/config"
	"github.com/patronfed/patronfed/demo"
	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
	"github.com/patronfed/patronfed/pgtest"
	"github.com/patronfed/patronfed/pii"
)

// Epoch is where every test clock starts.
var Epoch = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// Server is a running patronfed.
type Server struct {
	GRPCAddr string
	// HTTPURL is the gateway's base URL, e.g. http://127.0.0.1:41234.
	HTTPURL string
	Conn    *grpc.ClientConn
	// DB is a superuser pool on the test database, for fixtures and for
	// checking what was stored. The server itself runs as patronfed_app.
	DB     *pgxpool.Pool
	DBURL  string
	App    *app.App
	Config config.Config
	Clock  *clock.Fake
	// Logs holds every line the server logged (slog JSON).
	Logs *SyncBuffer

	client *http.Client
}

// Option changes how Start builds the server.
type Option func(*options)

type options struct {
	tracer trace.TracerProvider
	tls    bool
	noDemo bool
	dbURL  string
	cfg    func(*config.Config)
}

// WithoutDemo starts on an empty database (schema only).
func WithoutDemo() Option { return func(o *options) { o.noDemo = true } }

// WithDatabase serves an existing database instead of a fresh clone (for
// tests that run two replicas on one database).
func WithDatabase(url string) Option { return func(o *options) { o.dbURL = url } }

// WithTLS serves gRPC and REST over TLS with a fresh self-signed
// certificate for 127.0.0.1; the server's Conn and HTTP helpers trust it.
func WithTLS() Option { return func(o *options) { o.tls = true } }

// WithTracer sends the server's RPC spans to tp.
func WithTracer(tp trace.TracerProvider) Option { return func(o *options) { o.tracer = tp } }

// WithConfig adjusts the configuration before the app is built.
func WithConfig(f func(*config.Config)) Option { return func(o *options) { o.cfg = f } }

var (
	keysOnce           sync.Once
	tokenKeys, encKeys string
	indexKey           string
)

func testKeys() (string, string, string) {
	keysOnce.Do(func() {
		tokenKeys = auth.GenerateSigningKeySpec()
		encKeys, indexKey = pii.GenerateKeyringSpec()
	})
	return tokenKeys, encKeys, indexKey
}

// Start runs a server for the test and stops it at cleanup. By default the
// demo consortium is loaded (package demo), with cheap password hashing.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	url := o.dbURL
	if url == "" {
		url = pgtest.NewDB(t)
	}
	tk, ek, ik := testKeys()
	cfg := config.Config{
		DatabaseURL:      url,
		DBRole:           "patronfed_app",
		DBMaxConns:       8,
		GRPCAddr:         "127.0.0.1:0",
		HTTPAddr:         "127.0.0.1:0",
		TokenKeys:        tk,
		TokenTTL:         15 * time.Minute,
		PIIKeys:          ek,
		PIIIndexKey:      ik,
		LoginMaxFailures: 5,
		LoginLockout:     15 * time.Minute,
		LogLevel:         "debug",
		// As in production (the flag's default).
		PrincipalCacheTTL: time.Minute,
		GRPCStreamWorkers: 64,
	}
	var roots *x509.CertPool
	if o.tls {
		cfg.TLSCertFile, cfg.TLSKeyFile, roots = selfSigned(t)
	}
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	logs := &SyncBuffer{}
	clk := clock.NewFake(Epoch)
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.Build(ctx, app.Deps{
		Config:     cfg,
		Logger:     slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Clock:      clk,
		HashParams: auth.TestParams,
		Tracer:     o.tracer,
	})
	if err != nil {
		cancel()
		t.Fatalf("testserver: build: %v", err)
	}
	su, err := pgxpool.New(ctx, url)
	if err != nil {
		cancel()
		a.Close()
		t.Fatalf("testserver: superuser pool: %v", err)
	}
	if !o.noDemo && o.dbURL == "" {
		if _, err := demo.Load(ctx, su, a.Keyring, auth.TestParams); err != nil {
			cancel()
			t.Fatalf("testserver: demo: %v", err)
		}
	}
	// Start with the principal cache listening, so that tests see it
	// caching from the first call.
	for deadline := time.Now().Add(10 * time.Second); a.Principals != nil && !a.Principals.Live(); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("testserver: the principal cache is not listening")
		}
	}
	gl, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		t.Fatal(err)
	}
	hl, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Server.Serve(ctx, gl, hl, nil) }()
	creds, scheme, client := insecure.NewCredentials(), "http://", http.DefaultClient
	if roots != nil {
		tc := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
		creds, scheme = credentials.NewTLS(tc), "https://"
		client = &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
	}
	conn, err := grpc.NewClient(gl.Addr().String(), grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{
		client:   client,
		GRPCAddr: gl.Addr().String(),
		HTTPURL:  scheme + hl.Addr().String(),
		Conn:     conn,
		DB:       su,
		DBURL:    url,
		App:      a,
		Config:   cfg,
		Clock:    clk,
		Logs:     logs,
	}
	t.Cleanup(func() {
		conn.Close()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("testserver: serve: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("testserver: did not shut down")
		}
		a.Close()
		su.Close()
	})
	s.waitHTTP(t)
	return s
}

func (s *Server) waitHTTP(t testing.TB) {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := s.client.Get(s.HTTPURL + "/healthz")
		if err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("testserver: gateway did not come up")
}

// Ctx returns a context that sends token as the bearer credential.
func Ctx(token string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+token)
}

// Login logs in a staff or operator account over gRPC and returns the token.
// The demo accounts' password is demo.Password.
func (s *Server) Login(t testing.TB, username string) string {
	t.Helper()
	resp, err := pb.NewAuthServiceClient(s.Conn).Login(context.Background(), &pb.LoginRequest{Username: username, Password: demo.Password})
	if err != nil {
		t.Fatalf("login %s: %v", username, err)
	}
	return resp.GetToken()
}

// PatronLogin logs a patron in by card number and the demo PIN.
func (s *Server) PatronLogin(t testing.TB, card string) string {
	t.Helper()
	resp, err := pb.NewAuthServiceClient(s.Conn).PatronLogin(context.Background(), &pb.PatronLoginRequest{CardNumber: card, Pin: demo.PIN})
	if err != nil {
		t.Fatalf("patron login %s: %v", card, err)
	}
	return resp.GetToken()
}

// LibraryID returns the id of the library with code.
func (s *Server) LibraryID(t testing.TB, code string) string {
	t.Helper()
	var id string
	if err := s.DB.QueryRow(context.Background(), `SELECT id::text FROM libraries WHERE code = $1`, code).Scan(&id); err != nil {
		t.Fatalf("library %s: %v", code, err)
	}
	return id
}

// HTTP sends a JSON request to the gateway and returns the status code and
// decoded JSON body (nil when the body is empty or not JSON).
func (s *Server) HTTP(t testing.TB, method, path, token string, body any) (int, map[string]any) {
	t.Helper()
	code, raw := s.HTTPRaw(t, method, path, token, body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return code, out
}

// HTTPRaw is HTTP without decoding.
func (s *Server) HTTPRaw(t testing.TB, method, path, token string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, s.HTTPURL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

// selfSigned writes a fresh ECDSA certificate for 127.0.0.1 and returns its
// files and a pool that trusts it.
func selfSigned(t testing.TB) (certFile, keyFile string, roots *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "patronfed test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	roots = x509.NewCertPool()
	roots.AddCert(cert)
	return certFile, keyFile, roots
}

// SyncBuffer is a bytes.Buffer safe for concurrent writers.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
