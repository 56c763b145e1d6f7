package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/types/known/structpb"

	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
)

func init() {
	extraCommands["policy"] = policyCmd
}

const policyUsage = `usage: patronfed policy <command> [flags]

The access policy is a versioned bundle of Rego modules (*.rego, tests in
*_test.rego) and an optional data.json, stored by the server. Commands:

  list                         versions with author, time and the active one
  pull VERSION DIR             write a version's modules and data.json to DIR
  validate DIR                 compile DIR's bundle (strict) without storing it
  push DIR [--description D]   upload DIR's bundle as a new version
  test VERSION                 run the version's own tests
  dry-run VERSION [--last N]   replay the last N audited decisions and show those that change
  activate VERSION             make VERSION active (refused unless its tests pass)
  rollback [VERSION]           re-activate an earlier active version (default: the previous one)
  activations                  who switched the policy, and when
  explain --staff ID --patron ID [--action A]
                               why a staff account may (not) act on a patron; no patron data

Every command takes --server HOST:PORT (env PATRONFED_SERVER, default
localhost:9090) and reads the operator's token from PATRONFED_TOKEN:
  export PATRONFED_TOKEN=$(patronfed login --username operator)
`

// parseArgs parses flags wherever they appear among the positional
// arguments (flag.Parse stops at the first positional one).
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func policyCmd(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(out, policyUsage)
		if len(args) == 0 {
			return errors.New("policy needs a command")
		}
		return nil
	}
	sub := args[0]
	fs := flag.NewFlagSet("policy "+sub, flag.ContinueOnError)
	var cf clientFlags
	cf.register(fs)
	description := fs.String("description", "", "push: what changed and why")
	last := fs.Int("last", 1000, "dry-run: how many recent audited decisions to replay (max 100000)")
	maxChanges := fs.Int("max-changes", 200, "dry-run: how many changed decisions to list")
	staff := fs.String("staff", "", "explain: staff account id")
	patronID := fs.String("patron", "", "explain: patron id")
	action := fs.String("action", "", "explain: action, e.g. patron.read (default) or loan.checkout")
	fs.Usage = func() { fmt.Fprint(fs.Output(), policyUsage) }
	pos, err := parseArgs(fs, args[1:])
	if err != nil {
		return err
	}
	version := func(i int, required bool) (int64, error) {
		if len(pos) <= i {
			if required {
				return 0, fmt.Errorf("policy %s needs a VERSION", sub)
			}
			return 0, nil
		}
		v, err := strconv.ParseInt(pos[i], 10, 64)
		if err != nil || v <= 0 {
			return 0, fmt.Errorf("bad version %q", pos[i])
		}
		return v, nil
	}
	dir := func() (string, error) {
		if len(pos) == 0 {
			return "", fmt.Errorf("policy %s needs a DIR", sub)
		}
		return pos[0], nil
	}

	conn, err := cf.dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	c := pb.NewPolicyServiceClient(conn)
	ctx, err = authed(ctx)
	if err != nil {
		return err
	}

	switch sub {
	case "list":
		resp, err := c.ListPolicies(ctx, &pb.ListPoliciesRequest{PageSize: 500})
		if err != nil {
			return rpcError(err)
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "VERSION\tACTIVE\tAUTHOR\tCREATED\tLAST ACTIVATED\tSHA256\tDESCRIPTION")
		for _, p := range resp.GetPolicies() {
			active := ""
			if p.GetActive() {
				active = "*"
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%.12s\t%s\n", p.GetVersion(), active, p.GetAuthorUsername(),
				stampOf(p.GetCreateTime().AsTime()), stampOf(p.GetLastActivateTime().AsTime()), p.GetSha256(), p.GetDescription())
		}
		return tw.Flush()

	case "pull":
		v, err := version(0, true)
		if err != nil {
			return err
		}
		if len(pos) < 2 {
			return errors.New("policy pull needs VERSION and DIR")
		}
		resp, err := c.GetPolicy(ctx, &pb.GetPolicyRequest{Version: v})
		if err != nil {
			return rpcError(err)
		}
		if err := writeBundle(pos[1], resp.GetBundle()); err != nil {
			return err
		}
		fmt.Fprintf(out, "version %d written to %s (%d modules)\n", v, pos[1], len(resp.GetBundle().GetModules()))
		return nil

	case "validate", "push":
		d, err := dir()
		if err != nil {
			return err
		}
		b, err := readBundle(d)
		if err != nil {
			return err
		}
		if sub == "validate" {
			resp, err := c.ValidatePolicy(ctx, &pb.ValidatePolicyRequest{Source: &pb.ValidatePolicyRequest_Bundle{Bundle: b}})
			if err != nil {
				return rpcError(err)
			}
			if resp.GetValid() {
				fmt.Fprintf(out, "%s: valid (%d modules)\n", d, len(b.GetModules()))
				return nil
			}
			for _, p := range resp.GetProblems() {
				fmt.Fprintf(out, "%s:%d:%d: %s: %s\n", p.GetFile(), p.GetLine(), p.GetColumn(), p.GetCode(), p.GetMessage())
			}
			return fmt.Errorf("%s: %d problems", d, len(resp.GetProblems()))
		}
		resp, err := c.UploadPolicy(ctx, &pb.UploadPolicyRequest{Bundle: b, Description: *description})
		if err != nil {
			return rpcError(err)
		}
		p := resp.GetPolicy()
		fmt.Fprintf(out, "uploaded version %d (sha256 %.12s, %d modules); next: patronfed policy test %d\n",
			p.GetVersion(), p.GetSha256(), len(p.GetModuleNames()), p.GetVersion())
		return nil

	case "test":
		v, err := version(0, true)
		if err != nil {
			return err
		}
		resp, err := c.TestPolicy(ctx, &pb.TestPolicyRequest{Version: v})
		if err != nil {
			return rpcError(err)
		}
		printTests(out, resp.GetResults())
		fmt.Fprintf(out, "version %d: %d passed, %d failed\n", v, resp.GetPassed(), resp.GetFailed())
		if resp.GetFailed() > 0 || resp.GetPassed() == 0 {
			return errors.New("tests did not pass; the version cannot be activated")
		}
		return nil

	case "dry-run":
		v, err := version(0, true)
		if err != nil {
			return err
		}
		resp, err := c.DryRunPolicy(ctx, &pb.DryRunPolicyRequest{Version: v, Last: int32(*last), MaxChanges: int32(*maxChanges)})
		if err != nil {
			return rpcError(err)
		}
		printDryRun(out, v, resp)
		return nil

	case "activate":
		v, err := version(0, true)
		if err != nil {
			return err
		}
		resp, err := c.ActivatePolicy(ctx, &pb.ActivatePolicyRequest{Version: v})
		if err != nil {
			return rpcError(err)
		}
		fmt.Fprintf(out, "version %d is active (was %d); %d tests passed\n", resp.GetPolicy().GetVersion(), resp.GetPreviousVersion(), len(resp.GetTestResults()))
		return nil

	case "rollback":
		v, err := version(0, false)
		if err != nil {
			return err
		}
		resp, err := c.RollbackPolicy(ctx, &pb.RollbackPolicyRequest{Version: v})
		if err != nil {
			return rpcError(err)
		}
		fmt.Fprintf(out, "rolled back: version %d is active (was %d)\n", resp.GetPolicy().GetVersion(), resp.GetPreviousVersion())
		return nil

	case "activations":
		resp, err := c.ListPolicyActivations(ctx, &pb.ListPolicyActivationsRequest{PageSize: 500})
		if err != nil {
			return rpcError(err)
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "WHEN\tVERSION\tKIND\tBY")
		for _, a := range resp.GetActivations() {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", stampOf(a.GetActivateTime().AsTime()), a.GetVersion(), a.GetKind(), a.GetActorUsername())
		}
		return tw.Flush()

	case "explain":
		if *staff == "" || *patronID == "" {
			return errors.New("policy explain needs --staff ID and --patron ID")
		}
		resp, err := c.ExplainAccess(ctx, &pb.ExplainAccessRequest{StaffAccountId: *staff, PatronId: *patronID, Action: *action})
		if err != nil {
			return rpcError(err)
		}
		verdict := "DENY"
		if resp.GetAllow() {
			verdict = "ALLOW"
		}
		fmt.Fprintf(out, "%s %s (policy version %d)\n", verdict, resp.GetAction(), resp.GetPolicyVersion())
		if resp.GetAllow() {
			fmt.Fprintf(out, "  fields:  %s\n", orNone(resp.GetFields()))
		}
		for _, r := range resp.GetReasons() {
			fmt.Fprintf(out, "  reason:  %s\n", r)
		}
		return nil
	}
	fmt.Fprint(out, policyUsage)
	return fmt.Errorf("unknown policy command %q", sub)
}

func stampOf(t time.Time) string {
	if t.IsZero() || t.Unix() == 0 {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func orNone(ss []string) string {
	if len(ss) == 0 {
		return "(none)"
	}
	return strings.Join(ss, ",")
}

// readBundle reads every *.rego file under dir (names relative, with /)
// and dir/data.json if present.
func readBundle(dir string) (*pb.PolicyBundle, error) {
	b := &pb.PolicyBundle{Modules: map[string]string{}}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".rego") {
			return err
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		b.Modules[filepath.ToSlash(rel)] = string(src)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(b.Modules) == 0 {
		return nil, fmt.Errorf("%s has no .rego files", dir)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "data.json"))
	switch {
	case err == nil:
		var data map[string]any
		if err := json.Unmarshal(raw, &data); err != nil {
			return nil, fmt.Errorf("data.json: %w", err)
		}
		if b.Data, err = structpb.NewStruct(data); err != nil {
			return nil, fmt.Errorf("data.json: %w", err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	return b, nil
}

func writeBundle(dir string, b *pb.PolicyBundle) error {
	for name, src := range b.GetModules() {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			return err
		}
	}
	if len(b.GetData().GetFields()) > 0 {
		raw, err := json.MarshalIndent(b.GetData().AsMap(), "", "  ")
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, "data.json"), append(raw, '\n'), 0o644)
	}
	return nil
}

func printTests(out io.Writer, rs []*pb.PolicyTestResult) {
	for _, r := range rs {
		mark := "PASS"
		if !r.GetPass() {
			mark = "FAIL"
		}
		fmt.Fprintf(out, "%s  %s.%s\n", mark, r.GetPackage(), r.GetName())
		if f := r.GetFailure(); f != "" {
			fmt.Fprintf(out, "      %s\n", strings.ReplaceAll(f, "\n", "\n      "))
		}
	}
}

// printDryRun renders the changed decisions as a diff: "-" allowed before
// and denied now, "+" denied before and allowed now, "~" still allowed
// with other field groups.
func printDryRun(out io.Writer, v int64, r *pb.DryRunPolicyResponse) {
	changed := r.GetAllowToDeny() + r.GetDenyToAllow() + r.GetFieldsChanged()
	fmt.Fprintf(out, "dry run of version %d: %d audited decisions replayed, %d would change\n", v, r.GetEvaluated(), changed)
	fmt.Fprintf(out, "  - allow→deny: %d   + deny→allow: %d   ~ fields changed: %d   errors: %d\n",
		r.GetAllowToDeny(), r.GetDenyToAllow(), r.GetFieldsChanged(), r.GetErrors())
	for _, c := range r.GetChanges() {
		mark, kind := "~", "FIELDS"
		switch c.GetKind() {
		case pb.DecisionChangeKind_DECISION_CHANGE_KIND_ALLOW_TO_DENY:
			mark, kind = "-", "ALLOW→DENY"
		case pb.DecisionChangeKind_DECISION_CHANGE_KIND_DENY_TO_ALLOW:
			mark, kind = "+", "DENY→ALLOW"
		}
		fmt.Fprintf(out, "\n%s %s  audit #%d  %s  %s\n", mark, kind, c.GetAuditSeq(), stampOf(c.GetTime().AsTime()), c.GetAction())
		fmt.Fprintf(out, "    staff %s (library %s) → patron %s\n", c.GetActorId(), c.GetActorLibraryId(), c.GetPatronId())
		for _, side := range []struct {
			label string
			o     *pb.DecisionOutcome
		}{{"before", c.GetBefore()}, {"after ", c.GetAfter()}} {
			verdict := "deny "
			if side.o.GetAllow() {
				verdict = "allow"
			}
			fmt.Fprintf(out, "    %s v%d: %s  fields: %s\n", side.label, side.o.GetPolicyVersion(), verdict, orNone(side.o.GetFields()))
			for _, reason := range side.o.GetReasons() {
				fmt.Fprintf(out, "             reason: %s\n", reason)
			}
		}
		if c.GetKind() == pb.DecisionChangeKind_DECISION_CHANGE_KIND_FIELDS_CHANGED {
			added, removed := diffFields(c.GetBefore().GetFields(), c.GetAfter().GetFields())
			fmt.Fprintf(out, "    fields: +%s  -%s\n", orNone(added), orNone(removed))
		}
	}
	if r.GetTruncated() {
		fmt.Fprintf(out, "\n(more changes than listed; raise --max-changes)\n")
	}
}

func diffFields(before, after []string) (added, removed []string) {
	for _, f := range after {
		if !slices.Contains(before, f) {
			added = append(added, f)
		}
	}
	for _, f := range before {
		if !slices.Contains(after, f) {
			removed = append(removed, f)
		}
	}
	return added, removed
}
