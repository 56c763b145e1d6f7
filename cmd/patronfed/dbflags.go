package main

import (
	"errors"
	"flag"
	"os"
	"strconv"

	"github.com/patronfed/patronfed/config"
)

// dbFlags are the database flags of the commands that open the database
// themselves (migrate, admin, retention): the URL, and the declaration
// that plaintext to a remote host is acceptable, both from the
// environment by default, as for serve.
type dbFlags struct {
	url            *string
	allowPlaintext *bool
}

func registerDBFlags(fs *flag.FlagSet, usage string) dbFlags {
	allow, _ := strconv.ParseBool(os.Getenv("PATRONFED_DB_ALLOW_PLAINTEXT"))
	return dbFlags{
		url: fs.String("database-url", os.Getenv("DATABASE_URL"), usage+" (env DATABASE_URL)"),
		allowPlaintext: fs.Bool("allow-db-plaintext", allow,
			"connect to a PostgreSQL host other than loopback or a Unix socket without requiring TLS (env PATRONFED_DB_ALLOW_PLAINTEXT)"),
	}
}

// URL returns the database URL once it is given and its transport is
// acceptable (config.CheckDBTransport).
func (d dbFlags) URL() (string, error) {
	if *d.url == "" {
		return "", errors.New("DATABASE_URL (--database-url) is required")
	}
	return *d.url, config.CheckDBTransport(*d.url, *d.allowPlaintext)
}
