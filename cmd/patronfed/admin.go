package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/patronfed/patronfed/admin"
	"github.com/patronfed/patronfed/auth"
	"github.com/patronfed/patronfed/store"
)

func adminCmd(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("admin needs a subcommand: create-operator or reset-password")
	}
	fs := flag.NewFlagSet("admin "+args[0], flag.ContinueOnError)
	db := registerDBFlags(fs, "PostgreSQL URL")
	username := fs.String("username", "", "account username")
	display := fs.String("display-name", "", "full name shown to other staff (create-operator)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: patronfed admin %s --username NAME [flags]\nThe password is read from the first line of standard input (or PATRONFED_ADMIN_PASSWORD).\n", args[0])
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *username == "" {
		fs.Usage()
		return errors.New("--username is required")
	}
	url, err := db.URL()
	if err != nil {
		return err
	}
	password, err := readPassword()
	if err != nil {
		return err
	}
	pool, err := store.Open(ctx, url, store.PoolOptions{MaxConns: 2})
	if err != nil {
		return err
	}
	defer pool.Close()
	switch args[0] {
	case "create-operator":
		id, err := admin.CreateOperator(ctx, pool, *username, *display, password, auth.DefaultParams)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "operator %s created (id %s)\n", *username, id)
		return nil
	case "reset-password":
		if err := admin.ResetPassword(ctx, pool, *username, password, auth.DefaultParams); err != nil {
			return err
		}
		fmt.Fprintf(out, "password of %s reset\n", *username)
		return nil
	}
	return fmt.Errorf("unknown admin subcommand %q", args[0])
}

// readPassword takes the password from the environment or stdin, never from
// a flag (flags show up in process listings and shell history).
func readPassword() (string, error) {
	if p := os.Getenv("PATRONFED_ADMIN_PASSWORD"); p != "" {
		return p, nil
	}
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", errors.New("no password on standard input")
	}
	return strings.TrimRight(line, "\r\n"), nil
}
