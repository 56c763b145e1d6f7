package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patronfed/patronfed/demo"
	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
	"github.com/patronfed/patronfed/testserver"
)

// cli runs one patronfed command in-process and returns its output.
func cli(t *testing.T, wantErr bool, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	err := realMain(context.Background(), args, &out)
	if (err != nil) != wantErr {
		t.Fatalf("patronfed %s: error %v (want error: %v)\n%s", strings.Join(args, " "), err, wantErr, out.String())
	}
	if err != nil {
		out.WriteString("error: " + err.Error())
	}
	return out.String()
}

func mustContain(t *testing.T, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Fatalf("output lacks %q:\n%s", w, out)
		}
	}
}

// TestOperatorCLI walks through the operator's CLI against a real server,
// as the README does. Not parallel: it sets environment variables.
func TestOperatorCLI(t *testing.T) {
	s := testserver.Start(t)
	t.Setenv("PATRONFED_SERVER", s.GRPCAddr)
	t.Setenv("PATRONFED_PASSWORD", demo.Password)
	t.Setenv("PATRONFED_TOKEN", "")

	// Some audited reads of B0002 (BRNO, consents to SLAV).
	var b0002 string
	if err := s.DB.QueryRow(context.Background(), `SELECT patron_id::text FROM cards WHERE card_number = 'B0002'`).Scan(&b0002); err != nil {
		t.Fatal(err)
	}
	ps := pb.NewPatronServiceClient(s.Conn)
	for _, user := range []string{"brno.reg", "slav.reg", "kors.reg"} {
		_, _ = ps.GetPatron(testserver.Ctx(s.Login(t, user)), &pb.GetPatronRequest{PatronId: b0002})
	}

	cli(t, true, "policy", "list") // no token yet
	token := strings.TrimSpace(cli(t, false, "login", "--username", "operator"))
	t.Setenv("PATRONFED_TOKEN", token)

	mustContain(t, cli(t, false, "policy", "list"), "builtin", "built-in policy")
	dir := t.TempDir()
	mustContain(t, cli(t, false, "policy", "pull", "1", filepath.Join(dir, "v1")), "version 1 written")
	if _, err := os.Stat(filepath.Join(dir, "v1", "access.rego")); err != nil {
		t.Fatal(err)
	}

	cand := filepath.Join(dir, "candidate")
	if err := os.MkdirAll(cand, 0o755); err != nil {
		t.Fatal(err)
	}
	// The README's example candidate, as shipped in examples/.
	for _, f := range []string{"access.rego", "access_test.rego"} {
		src, err := os.ReadFile(filepath.Join("..", "..", "examples", "policy-home-only", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(cand, f), src, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mustContain(t, cli(t, false, "policy", "validate", cand), "valid (2 modules)")
	mustContain(t, cli(t, false, "policy", "push", cand, "--description", "home library only"), "uploaded version 2")
	mustContain(t, cli(t, false, "policy", "test", "2"), "PASS  data.patronfed.access_test.test_home", "2 passed, 0 failed")
	dry := cli(t, false, "policy", "dry-run", "2", "--last", "50")
	mustContain(t, dry, "- ALLOW→DENY", "~ FIELDS", "fields: +(none)  -birth_date,address", "reason: home library only")
	t.Logf("dry run:\n%s", dry)

	mustContain(t, cli(t, false, "policy", "activate", "2"), "version 2 is active (was 1)")
	var slavReg string
	s.DB.QueryRow(context.Background(), `SELECT id::text FROM accounts WHERE username = 'slav.reg'`).Scan(&slavReg)
	mustContain(t, cli(t, false, "policy", "explain", "--staff", slavReg, "--patron", b0002), "DENY patron.read (policy version 2)", "home library only")
	mustContain(t, cli(t, false, "policy", "rollback"), "version 1 is active (was 2)")
	mustContain(t, cli(t, false, "policy", "explain", "--staff", slavReg, "--patron", b0002), "ALLOW patron.read (policy version 1)")
	mustContain(t, cli(t, false, "policy", "activations"), "rollback", "activate", "builtin")

	// A failing test blocks activation.
	os.WriteFile(filepath.Join(cand, "fail_test.rego"), []byte("package patronfed.access_test\n\nimport data.patronfed.access\n\ntest_everyone if access.decision.allow with input as {}\n"), 0o644)
	mustContain(t, cli(t, false, "policy", "push", cand), "uploaded version 3")
	mustContain(t, cli(t, true, "policy", "test", "3"), "FAIL  data.patronfed.access_test.test_everyone")
	mustContain(t, cli(t, true, "policy", "activate", "3"), "FailedPrecondition", "test_everyone")

	// Audit: query, breach scope (table and CSV), verify.
	var brnoReg string
	s.DB.QueryRow(context.Background(), `SELECT id::text FROM accounts WHERE username = 'brno.reg'`).Scan(&brnoReg)
	mustContain(t, cli(t, false, "audit", "query", "--patron", b0002, "--decision", "denied"), "patron.read", "denied")
	mustContain(t, cli(t, false, "audit", "breach", "--actor", brnoReg), "breach scope: ", b0002, "name(")
	csvFile := filepath.Join(dir, "breach.csv")
	mustContain(t, cli(t, false, "audit", "breach", "--actor", brnoReg, "--csv", "--out", csvFile), "written to")
	raw, _ := os.ReadFile(csvFile)
	recs, err := csv.NewReader(bytes.NewReader(raw)).ReadAll()
	if err != nil || len(recs) < 2 || recs[0][0] != "patron_id" || recs[1][0] != b0002 {
		t.Fatalf("CSV export: %v\n%s", err, raw)
	}
	mustContain(t, cli(t, false, "audit", "verify"), "audit log intact")

	// Plaintext only to loopback, unless declared (privacy rules §5.1).
	mustContain(t, cli(t, true, "audit", "verify", "--server", "192.0.2.1:9090"), "refusing to talk to 192.0.2.1:9090 without TLS")
	t.Setenv("PATRONFED_ALLOW_PLAINTEXT", "true")
	remote := clientFlags{server: "192.0.2.1:9090"}
	if conn, err := remote.dial(); err != nil { // grpc.NewClient does not connect yet
		t.Errorf("declared plaintext to 192.0.2.1:9090: %v", err)
	} else {
		conn.Close()
	}
	os.Unsetenv("PATRONFED_ALLOW_PLAINTEXT")

	// Login trails: the operator's own login is one, from loopback.
	mustContain(t, cli(t, false, "audit", "trails", "--address", "127.0.0.0/8", "--kind", "accounts"), "ADDRESS", "127.0.0.1", "operator")
	mustContain(t, cli(t, true, "audit", "trails", "--kind", "robots"), "--kind is accounts or patrons")
	mustContain(t, cli(t, true, "audit", "trails", "--address", "not-an-address"), "InvalidArgument", "address")
}
