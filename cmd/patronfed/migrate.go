package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/patronfed/patronfed/store"
)

func migrateCmd(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	db := registerDBFlags(fs, "PostgreSQL URL of a role that owns the schema")
	steps := fs.Int("steps", 1, "down: how many versions to roll back (0 = all)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: patronfed migrate [flags] up|down|status")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	url, err := db.URL()
	if err != nil {
		return err
	}
	switch fs.Arg(0) {
	case "up":
		if err := store.MigrateUp(ctx, url); err != nil {
			return err
		}
		fmt.Fprintln(out, "migrated up")
		return nil
	case "down":
		return store.MigrateDown(ctx, url, *steps)
	case "status":
		st, err := store.MigrateStatus(ctx, url)
		if err != nil {
			return err
		}
		for _, s := range st {
			fmt.Fprintln(out, s)
		}
		return nil
	}
	fs.Usage()
	return errors.New("migrate needs up, down or status")
}
