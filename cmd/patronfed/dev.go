package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/patronfed/patronfed/app"
	"github.com/patronfed/patronfed/auth"
	"github.com/patronfed/patronfed/config"
	"github.com/patronfed/patronfed/demo"
	"github.com/patronfed/patronfed/pglocal"
	"github.com/patronfed/patronfed/pii"
	"github.com/patronfed/patronfed/store"
)

// devLoopback makes dev listen on loopback unless an address was given
// (flag or environment): the demo runs without TLS, which serve allows on
// loopback only (config.Validate).
func devLoopback(fs *flag.FlagSet, cfg *config.Config) {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, a := range []struct {
		flag, env string
		addr      *string
	}{{"grpc-addr", "PATRONFED_GRPC_ADDR", &cfg.GRPCAddr}, {"http-addr", "PATRONFED_HTTP_ADDR", &cfg.HTTPAddr}} {
		if _, inEnv := os.LookupEnv(a.env); !set[a.flag] && !inEnv && strings.HasPrefix(*a.addr, ":") {
			*a.addr = "127.0.0.1" + *a.addr
		}
	}
}

// devCmd runs the whole product on a private PostgreSQL under --data-dir:
// the first run creates the cluster, keys and demo consortium; later runs
// reuse them. Ctrl-C stops the server, then PostgreSQL.
// devPGPort is the private PostgreSQL's port for dev and seed. It lies
// below Linux's ephemeral range (32768-60999): a port inside it can be
// held by any client connection's TIME_WAIT for a minute, and then the
// postmaster cannot bind it (seen with 54329, the earlier default).
const devPGPort = 25329

func devCmd(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	var cfg config.Config
	cfg.Register(fs)
	dataDir := fs.String("data-dir", ".data", "where the private PostgreSQL cluster and dev keys live")
	pgPort := fs.Int("pg-port", devPGPort, "port of the private PostgreSQL (127.0.0.1 only)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	devLoopback(fs, &cfg)
	log := newLogger(cfg.LogLevel, os.Stderr)
	log.Info("garbage collector", "gc_percent", config.ApplyGCPercent())
	abs, err := filepath.Abs(*dataDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return err
	}
	fmt.Fprintf(out, "starting private PostgreSQL in %s ...\n", filepath.Join(abs, "pg"))
	pg, err := pglocal.Start(ctx, pglocal.Options{Dir: filepath.Join(abs, "pg"), Port: *pgPort, Durable: true})
	if err != nil {
		return err
	}
	defer func() {
		fmt.Fprintln(out, "stopping PostgreSQL")
		_ = pg.Stop()
	}()
	if err := pg.EnsureDatabase(ctx, "patronfed"); err != nil {
		return err
	}
	url := pg.URL("patronfed")
	if err := store.MigrateUp(ctx, url); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if err := devKeys(filepath.Join(abs, "dev-keys.env"), &cfg); err != nil {
		return err
	}
	cfg.DatabaseURL = url
	a, err := app.Build(ctx, app.Deps{Config: cfg, Logger: log})
	if err != nil {
		return err
	}
	defer a.Close()
	loaded, err := demo.Load(ctx, a.Pool, a.Keyring, auth.DefaultParams)
	if err != nil {
		return fmt.Errorf("demo data: %w", err)
	}
	g, h, m, err := app.Listen(cfg)
	if err != nil {
		return err
	}
	state := "reused the existing demo consortium"
	if loaded {
		state = "loaded the demo consortium"
	}
	fmt.Fprintf(out, `patronfed dev: %s
  gRPC  %s   (grpcurl -plaintext localhost%s list)
  REST  http://%s   (OpenAPI at /openapi.json)
  DB    %s
  staff: brno.circ brno.reg brno.manager slav.* kors.* ; operator: %s ; password %q
Ctrl-C stops.
`, state, cfg.GRPCAddr, portOf(cfg.GRPCAddr), hostPort(cfg.HTTPAddr), url, demo.Operator, demo.Password)
	return a.Server.Serve(ctx, g, h, m)
}

func portOf(addr string) string {
	if i := strings.LastIndex(addr, ":"); i >= 0 {
		return addr[i:]
	}
	return addr
}

func hostPort(addr string) string {
	if strings.HasPrefix(addr, ":") {
		return "localhost" + addr
	}
	return addr
}

// devKeys loads the dev instance's keys from path, creating them on the
// first run, so that tokens and encrypted identifiers survive a restart.
// Explicit configuration wins.
func devKeys(path string, cfg *config.Config) error {
	vals := map[string]string{}
	if f, err := os.Open(path); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), "="); ok {
				vals[k] = v
			}
		}
		f.Close()
	}
	if vals["PATRONFED_TOKEN_KEYS"] == "" || vals["PATRONFED_PII_KEYS"] == "" || vals["PATRONFED_PII_INDEX_KEY"] == "" {
		enc, idx := pii.GenerateKeyringSpec()
		vals = map[string]string{
			"PATRONFED_TOKEN_KEYS":    auth.GenerateSigningKeySpec(),
			"PATRONFED_PII_KEYS":      enc,
			"PATRONFED_PII_INDEX_KEY": idx,
		}
		content := fmt.Sprintf("PATRONFED_TOKEN_KEYS=%s\nPATRONFED_PII_KEYS=%s\nPATRONFED_PII_INDEX_KEY=%s\n",
			vals["PATRONFED_TOKEN_KEYS"], vals["PATRONFED_PII_KEYS"], vals["PATRONFED_PII_INDEX_KEY"])
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			return err
		}
	}
	if cfg.TokenKeys == "" {
		cfg.TokenKeys = vals["PATRONFED_TOKEN_KEYS"]
	}
	if cfg.PIIKeys == "" {
		cfg.PIIKeys = vals["PATRONFED_PII_KEYS"]
	}
	if cfg.PIIIndexKey == "" {
		cfg.PIIIndexKey = vals["PATRONFED_PII_INDEX_KEY"]
	}
	return nil
}
