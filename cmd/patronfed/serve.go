package main

import (
	"context"
	"flag"
	"os"

	"github.com/patronfed/patronfed/app"
	"github.com/patronfed/patronfed/config"
)

func serveCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var cfg config.Config
	cfg.Register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	return serve(ctx, cfg)
}

// serve builds the app and serves until ctx ends (SIGINT/SIGTERM).
func serve(ctx context.Context, cfg config.Config) error {
	log := newLogger(cfg.LogLevel, os.Stderr)
	log.Info("garbage collector", "gc_percent", config.ApplyGCPercent())
	a, err := app.Build(ctx, app.Deps{Config: cfg, Logger: log})
	if err != nil {
		return err
	}
	defer a.Close()
	g, h, m, err := app.Listen(cfg)
	if err != nil {
		return err
	}
	return a.Server.Serve(ctx, g, h, m)
}
