package main

import (
	"os/exec"
	"strings"
	"testing"
)

// mailSenders are import paths (substrings) of packages that send e-mail.
// net/mail (address parsing, used for validation) sends nothing.
var mailSenders = []string{"net/smtp", "smtp", "gomail", "go-mail", "sendgrid", "mailgun", "mailjet", "postmark", "/service/ses", "/sesv2"}

// TestNoEmailChannel (privacy-rules §5.2: sensitive personal data is never
// sent by e-mail): the binary links no package that can send e-mail, so
// no code path can e-mail patron data (notices, extracts, breach reports
// leave only through the API and the operator CLI). Adding one fails here
// and has to be a conscious decision. Removable media is an operations
// matter (deploy/README.md).
func TestNoEmailChannel(t *testing.T) {
	t.Parallel()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go tool is not on PATH")
	}
	out, err := exec.Command(goTool, "list", "-deps", "github.com/patronfed/patronfed/cmd/patronfed").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 100 {
		t.Fatalf("go list returned %d packages", len(deps))
	}
	for _, d := range deps {
		for _, m := range mailSenders {
			if strings.Contains(d, m) {
				t.Errorf("the binary links %s, which can send e-mail", d)
			}
		}
	}
}
