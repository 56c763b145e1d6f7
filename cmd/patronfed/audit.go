package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/patronfed/patronfed/gen/patronfed/v1"
)

func init() {
	extraCommands["audit"] = auditCmd
}

const auditUsage = `usage: patronfed audit <command> [flags]

The consortium operator's view of the audit log of patron data access:

  query  [--actor ID] [--library ID] [--patron ID] [--token ID] [--action A]
         [--decision allowed|denied] [--from T] [--to T] [--limit N]
                       entries, newest first
  breach [--actor ID] [--library ID] [--token ID] [--from T] [--to T]
         [--csv | --json] [--out FILE]
                       which patrons and which field groups were read (privacy
                       rules §5.4); --csv/--json export the report for the
                       supervisory authority
  trails [--address IP|NET] [--kind accounts|patrons] [--from T] [--to T]
         [--limit N]   login trails, newest first: the last login (time,
                       address) of accounts and patrons; a patron by id and
                       home library only (privacy rules §2.6)
  verify               check the hash chain and report the first broken link

T is RFC 3339 (2026-03-02T09:00:00Z) or a date (2026-03-02, UTC midnight).
Every command takes --server and reads the operator's token from
PATRONFED_TOKEN (see patronfed login).
`

func parseTime(s string) (*timestamppb.Timestamp, error) {
	if s == "" {
		return nil, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return timestamppb.New(t), nil
		}
	}
	return nil, fmt.Errorf("bad time %q: use RFC 3339 or YYYY-MM-DD", s)
}

// printPages prints a table of at most limit rows under header, a page at
// a time: page prints one page of at most size rows from token and returns
// how many it printed and the next token ("" after the last page).
func printPages(out io.Writer, header string, limit int, page func(tw io.Writer, size int32, token string) (int, string, error)) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	token := ""
	for n := 0; n < limit; {
		got, next, err := page(tw, int32(min(limit-n, 1000)), token)
		if err != nil {
			return rpcError(err)
		}
		n += got
		if token = next; token == "" {
			break
		}
	}
	return tw.Flush()
}

func auditCmd(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(out, auditUsage)
		if len(args) == 0 {
			return errors.New("audit needs a command")
		}
		return nil
	}
	sub := args[0]
	fs := flag.NewFlagSet("audit "+sub, flag.ContinueOnError)
	var cf clientFlags
	cf.register(fs)
	actor := fs.String("actor", "", "acting account id")
	library := fs.String("library", "", "acting account's library id")
	patronID := fs.String("patron", "", "query: patron id")
	token := fs.String("token", "", "token id (jti)")
	action := fs.String("action", "", "query: action, e.g. patron.read")
	decision := fs.String("decision", "", "query: allowed or denied")
	from := fs.String("from", "", "start of the time window (inclusive)")
	to := fs.String("to", "", "end of the time window (exclusive)")
	limit := fs.Int("limit", 100, "query, trails: at most this many entries")
	asCSV := fs.Bool("csv", false, "breach: export CSV (one row per patron, read counts per field group)")
	asJSON := fs.Bool("json", false, "breach: export JSON")
	outFile := fs.String("out", "", "breach: write the export to FILE instead of standard output")
	address := fs.String("address", "", "trails: an address (203.0.113.7) or network (203.0.113.0/24)")
	kind := fs.String("kind", "", "trails: accounts or patrons (default both)")
	fs.Usage = func() { fmt.Fprint(fs.Output(), auditUsage) }
	if _, err := parseArgs(fs, args[1:]); err != nil {
		return err
	}
	start, err := parseTime(*from)
	if err != nil {
		return err
	}
	end, err := parseTime(*to)
	if err != nil {
		return err
	}
	conn, err := cf.dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	c := pb.NewAuditServiceClient(conn)
	ctx, err = authed(ctx)
	if err != nil {
		return err
	}

	switch sub {
	case "query":
		req := &pb.ListAuditEntriesRequest{ActorId: *actor, LibraryId: *library, PatronId: *patronID, TokenId: *token,
			Action: *action, StartTime: start, EndTime: end}
		switch *decision {
		case "":
		case "allowed":
			req.Decision = pb.AuditDecision_AUDIT_DECISION_ALLOWED
		case "denied":
			req.Decision = pb.AuditDecision_AUDIT_DECISION_DENIED
		default:
			return errors.New("--decision is allowed or denied")
		}
		return printPages(out, "SEQ\tTIME\tACTOR\tLIBRARY\tACTION\tPATRON\tDECISION\tFIELDS\tPOLICY", *limit,
			func(tw io.Writer, size int32, token string) (int, string, error) {
				req.PageSize, req.PageToken = size, token
				resp, err := c.ListAuditEntries(ctx, req)
				for _, e := range resp.GetEntries() {
					verdict := "denied"
					if e.GetAllowed() {
						verdict = "allowed"
					}
					fmt.Fprintf(tw, "%d\t%s\t%s %s\t%s\t%s\t%s\t%s\t%s\tv%d\n", e.GetSeq(), stampOf(e.GetTime().AsTime()), e.GetActorKind(),
						e.GetActorId(), e.GetActorLibraryId(), e.GetAction(), e.GetPatronId(), verdict, orNone(e.GetFields()), e.GetPolicyVersion())
				}
				return len(resp.GetEntries()), resp.GetNextPageToken(), err
			})

	case "breach":
		filter := &pb.BreachFilter{ActorId: *actor, LibraryId: *library, TokenId: *token, StartTime: start, EndTime: end}
		if *asCSV || *asJSON {
			return exportBreach(ctx, c, filter, *asJSON, *outFile, out)
		}
		return printBreach(ctx, c, filter, out)

	case "trails":
		req := &pb.ListLoginTrailsRequest{Address: *address, StartTime: start, EndTime: end}
		switch *kind {
		case "":
		case "accounts":
			req.Kind = pb.LoginTrailKind_LOGIN_TRAIL_KIND_ACCOUNT
		case "patrons":
			req.Kind = pb.LoginTrailKind_LOGIN_TRAIL_KIND_PATRON
		default:
			return errors.New("--kind is accounts or patrons")
		}
		return printPages(out, "TIME\tADDRESS\tKIND\tID\tUSERNAME\tLIBRARY", *limit,
			func(tw io.Writer, size int32, token string) (int, string, error) {
				req.PageSize, req.PageToken = size, token
				resp, err := c.ListLoginTrails(ctx, req)
				for _, tr := range resp.GetTrails() {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", stampOf(tr.GetTime().AsTime()), tr.GetAddress(), tr.GetKind(),
						tr.GetId(), orDash(tr.GetUsername()), orDash(tr.GetLibraryId()))
				}
				return len(resp.GetTrails()), resp.GetNextPageToken(), err
			})

	case "verify":
		resp, err := c.VerifyAuditChain(ctx, &pb.VerifyAuditChainRequest{})
		if err != nil {
			return rpcError(err)
		}
		if resp.GetOk() {
			fmt.Fprintf(out, "audit log intact: %d entries verified\n", resp.GetChecked())
			return nil
		}
		fmt.Fprintf(out, "audit log BROKEN at entry %d: %s (%d entries verified before it)\n", resp.GetFirstBrokenSeq(), resp.GetReason(), resp.GetChecked())
		return errors.New("the audit hash chain does not verify")
	}
	fmt.Fprint(out, auditUsage)
	return fmt.Errorf("unknown audit command %q", sub)
}

func printBreach(ctx context.Context, c pb.AuditServiceClient, filter *pb.BreachFilter, out io.Writer) error {
	req := &pb.GetBreachScopeRequest{Filter: filter, PageSize: 1000}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	for {
		resp, err := c.GetBreachScope(ctx, req)
		if err != nil {
			return rpcError(err)
		}
		if s := resp.GetSummary(); s != nil {
			fmt.Fprintf(out, "breach scope: %d reads of %d patrons, %s .. %s\n", s.GetReads(), s.GetPatrons(),
				stampOf(s.GetFirstReadTime().AsTime()), stampOf(s.GetLastReadTime().AsTime()))
			ftw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(ftw, "FIELD GROUP\tREADS\tPATRONS")
			for _, f := range s.GetFields() {
				fmt.Fprintf(ftw, "%s\t%d\t%d\n", f.GetField(), f.GetReads(), f.GetPatrons())
			}
			ftw.Flush()
			fmt.Fprintln(out)
			fmt.Fprintln(tw, "PATRON\tHOME LIBRARY\tREADS\tFIRST\tLAST\tFIELD GROUPS (reads)")
		}
		for _, p := range resp.GetPatrons() {
			var fields []string
			for _, f := range p.GetFields() {
				fields = append(fields, fmt.Sprintf("%s(%d)", f.GetField(), f.GetReads()))
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", p.GetPatronId(), p.GetHomeLibraryId(), p.GetReads(),
				stampOf(p.GetFirstReadTime().AsTime()), stampOf(p.GetLastReadTime().AsTime()), strings.Join(fields, " "))
		}
		if req.PageToken = resp.GetNextPageToken(); req.PageToken == "" {
			return tw.Flush()
		}
	}
}

// exportBreach writes every page of the export: CSV pages concatenate into
// one file; JSON pages become one JSON array of page documents.
func exportBreach(ctx context.Context, c pb.AuditServiceClient, filter *pb.BreachFilter, asJSON bool, outFile string, out io.Writer) error {
	w := out
	if outFile != "" {
		f, err := os.Create(outFile)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	req := &pb.ExportBreachScopeRequest{Filter: filter, Format: pb.BreachExportFormat_BREACH_EXPORT_FORMAT_CSV}
	if asJSON {
		req.Format = pb.BreachExportFormat_BREACH_EXPORT_FORMAT_JSON
		fmt.Fprint(w, "[\n")
	}
	for page := 0; ; page++ {
		resp, err := c.ExportBreachScope(ctx, req)
		if err != nil {
			return rpcError(err)
		}
		if asJSON && page > 0 {
			fmt.Fprint(w, ",\n")
		}
		if _, err := w.Write(resp.GetData()); err != nil {
			return err
		}
		if req.PageToken = resp.GetNextPageToken(); req.PageToken == "" {
			break
		}
	}
	if asJSON {
		fmt.Fprint(w, "\n]\n")
	}
	if outFile != "" {
		fmt.Fprintf(out, "breach scope written to %s\n", outFile)
	}
	return nil
}
