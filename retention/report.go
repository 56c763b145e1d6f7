package retention

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Report is what a run did (or, dry, would do), per library.
type Report struct {
	At        time.Time
	DryRun    bool
	Libraries []LibraryReport // by code
	// Held are the patrons due for archiving or anonymisation that were
	// held back, with the reasons (circulation.PatronDebts.Reasons: no
	// names, no titles).
	Held []HeldBack
	// AuditCutoff: audit entries before it were purged; AuditDeleted of
	// them. AuditNote says why the audit log was left alone, if it was.
	AuditCutoff  time.Time
	AuditDeleted int64
	AuditNote    string
}

// LibraryReport counts one library's rows by step.
type LibraryReport struct {
	LibraryID, Code string
	Counts          map[Step]int64
}

// HeldBack is a patron a step did not act on, and why.
type HeldBack struct {
	Step      Step
	LibraryID string
	PatronID  string
	Reasons   []string
}

func newReport(at time.Time, dry bool, libs []library) *Report {
	r := &Report{At: at, DryRun: dry}
	for _, l := range libs {
		r.Libraries = append(r.Libraries, LibraryReport{LibraryID: l.ID, Code: l.Code, Counts: map[Step]int64{}})
	}
	return r
}

func (r *Report) add(libraryID string, s Step, n int64) {
	for i := range r.Libraries {
		if r.Libraries[i].LibraryID == libraryID {
			r.Libraries[i].Counts[s] += n
			return
		}
	}
}

// Count returns the rows step s handled at the library with code.
func (r *Report) Count(code string, s Step) int64 {
	for _, l := range r.Libraries {
		if l.Code == code {
			return l.Counts[s]
		}
	}
	return 0
}

func (r *Report) total(s Step) int64 {
	var n int64
	for _, l := range r.Libraries {
		n += l.Counts[s]
	}
	return n
}

func (r *Report) heldBackCount() int { return len(r.Held) }

// stepLabels say what each step did, for the printed report.
var stepLabels = []struct {
	step  Step
	label string
}{
	{StepLoans, "loans anonymised"},
	{StepReservations, "reservations anonymised"},
	{StepArchive, "patrons archived"},
	{StepAnonymise, "patrons anonymised"},
	{StepSelfRegistrations, "self-registrations deleted"},
	{StepEventSignups, "event sign-ups deleted"},
}

// Write prints the report for people: per library what was (or would be)
// anonymised, archived and deleted, then what was held back and why.
func (r *Report) Write(w io.Writer) error {
	var b strings.Builder
	verb := "done"
	if r.DryRun {
		verb = "DRY RUN: nothing was changed; this is what a run would do"
	}
	fmt.Fprintf(&b, "retention run as of %s (%s)\n", r.At.UTC().Format(time.RFC3339), verb)
	for _, l := range r.Libraries {
		fmt.Fprintf(&b, "\n%s (%s)\n", l.Code, l.LibraryID)
		for _, s := range stepLabels {
			fmt.Fprintf(&b, "  %-28s %d\n", s.label, l.Counts[s.step])
		}
		var held []HeldBack
		for _, h := range r.Held {
			if h.LibraryID == l.LibraryID {
				held = append(held, h)
			}
		}
		fmt.Fprintf(&b, "  %-28s %d\n", "held back", len(held))
		for _, h := range held {
			fmt.Fprintf(&b, "    patron %s not %s: %s\n", h.PatronID, heldVerb(h.Step), strings.Join(h.Reasons, "; "))
		}
	}
	b.WriteString("\naudit log\n")
	switch {
	case r.AuditNote != "":
		fmt.Fprintf(&b, "  %s\n", r.AuditNote)
	default:
		fmt.Fprintf(&b, "  %-28s %d (entries before %s)\n", "entries deleted", r.AuditDeleted, r.AuditCutoff.UTC().Format(time.RFC3339))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func heldVerb(s Step) string {
	if s == StepArchive {
		return "archived"
	}
	return "anonymised"
}
