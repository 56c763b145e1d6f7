// Command patronfed is the patron federation backend: one binary that
// serves the API, migrates the database, runs a private development
// instance, and carries the operator's command-line tools.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

const usage = `patronfed: patron federation backend for library consortia

Usage:
  patronfed serve [flags]            serve gRPC, the REST gateway and /metrics
  patronfed migrate up|down|status   manage the database schema (down: one step)
  patronfed dev [flags]              private PostgreSQL under .data/, migrate, demo data, serve
  patronfed admin create-operator    create an operator account (bootstrap)
  patronfed admin reset-password     set a new password for an account
  patronfed keys                     print fresh signing and encryption keys
  patronfed login --username NAME    print a token for the operator CLIs (password on stdin)
  patronfed policy push|test|dry-run|activate|rollback|list|explain ...   manage the access policy
  patronfed audit query|breach|verify ...                                  audit log and breach scoping
  patronfed retention run [--dry-run] [--library CODE]                     apply the retention periods
  patronfed seed --patrons N --libraries L ...                             load a large synthetic consortium

Run 'patronfed <command> -h' for the flags of a command. Every flag can also
be set by the environment variable named in its help (PATRONFED_*, DATABASE_URL).
`

func main() { os.Exit(run(os.Args[1:])) }

// run is main without the exit: SIGINT and SIGTERM cancel the context, and
// every command shuts down cleanly from there.
func run(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := realMain(ctx, args, os.Stdout); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "patronfed:", err)
		}
		return 1
	}
	return 0
}

func realMain(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(out, usage)
		return errors.New("no command given")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return serveCmd(ctx, rest)
	case "migrate":
		return migrateCmd(ctx, rest, out)
	case "dev":
		return devCmd(ctx, rest, out)
	case "admin":
		return adminCmd(ctx, rest, out)
	case "help", "-h", "--help":
		fmt.Fprint(out, usage)
		return nil
	}
	for name, run := range extraCommands {
		if cmd == name {
			return run(ctx, rest, out)
		}
	}
	fmt.Fprint(out, usage)
	return fmt.Errorf("unknown command %q", cmd)
}

// extraCommands are registered by the files that implement them (policy,
// retention, ...), so that adding a command does not touch this switch.
var extraCommands = map[string]func(context.Context, []string, io.Writer) error{}

func newLogger(level string, w io.Writer) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(level))); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}
