package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/patronfed/patronfed/config"
	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
)

// The operator CLIs (login, policy, audit) are gRPC clients of a running
// server. The token comes from PATRONFED_TOKEN, never from a flag: flags
// show up in process listings and shell history.

func init() {
	extraCommands["login"] = loginCmd
}

// clientFlags are the connection flags every client command takes.
type clientFlags struct {
	server string
	tls    bool
}

func (c *clientFlags) register(fs *flag.FlagSet) {
	def := os.Getenv("PATRONFED_SERVER")
	if def == "" {
		def = "localhost:9090"
	}
	fs.StringVar(&c.server, "server", def, "gRPC address of the server (env PATRONFED_SERVER)")
	fs.BoolVar(&c.tls, "tls", os.Getenv("PATRONFED_TLS") == "true", "use TLS with the system's CA certificates (env PATRONFED_TLS=true)")
}

func (c *clientFlags) dial() (*grpc.ClientConn, error) {
	// The token, passwords and what comes back (audit entries, breach
	// reports) cross the network only encrypted (privacy rules §5.1), as
	// serve insists for what it listens on.
	if allow, _ := strconv.ParseBool(os.Getenv("PATRONFED_ALLOW_PLAINTEXT")); !c.tls && !allow && !config.Loopback(c.server) {
		return nil, fmt.Errorf("refusing to talk to %s without TLS (privacy rules §5.1): use --tls (PATRONFED_TLS=true), "+
			"or set PATRONFED_ALLOW_PLAINTEXT=true for a tunnel you trust", c.server)
	}
	creds := insecure.NewCredentials()
	if c.tls {
		creds = credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12})
	}
	// Breach exports and bundles can be large.
	return grpc.NewClient(c.server, grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20), grpc.MaxCallSendMsgSize(64<<20)))
}

// authed returns ctx carrying the token of PATRONFED_TOKEN.
func authed(ctx context.Context) (context.Context, error) {
	tok := strings.TrimSpace(os.Getenv("PATRONFED_TOKEN"))
	if tok == "" {
		return nil, errors.New("PATRONFED_TOKEN is not set; run: export PATRONFED_TOKEN=$(patronfed login --username NAME)")
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok), nil
}

// rpcError renders a gRPC error with its code, for the terminal.
func rpcError(err error) error {
	if st, ok := status.FromError(err); ok {
		return fmt.Errorf("%s: %s", st.Code(), st.Message())
	}
	return err
}

// loginCmd prints a token for a staff or operator account. The password is
// read from PATRONFED_PASSWORD or the first line of standard input.
func loginCmd(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("login", flag.ContinueOnError)
	var cf clientFlags
	cf.register(fs)
	username := fs.String("username", "", "account username")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: patronfed login --username NAME [--server HOST:PORT]\n"+
			"Prints a token; the password is read from PATRONFED_PASSWORD or standard input.\n"+
			"  export PATRONFED_TOKEN=$(patronfed login --username operator)\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *username == "" {
		fs.Usage()
		return errors.New("--username is required")
	}
	password := os.Getenv("PATRONFED_PASSWORD")
	if password == "" {
		line, err := bufio.NewReader(os.Stdin).ReadString('\n')
		if err != nil && line == "" {
			return errors.New("no password: set PATRONFED_PASSWORD or pass it on standard input")
		}
		password = strings.TrimRight(line, "\r\n")
	}
	conn, err := cf.dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	resp, err := pb.NewAuthServiceClient(conn).Login(ctx, &pb.LoginRequest{Username: *username, Password: password})
	if err != nil {
		return rpcError(err)
	}
	fmt.Fprintln(out, resp.GetToken())
	return nil
}
