package main

import (
	"context"
	"fmt"
	"io"

	"github.com/patronfed/patronfed/auth"
	"github.com/patronfed/patronfed/pii"
)

func init() {
	extraCommands["keys"] = keysCmd
}

// keysCmd prints a fresh set of keys as environment assignments. To rotate,
// put the new key first and keep the old ones after it until every token has
// expired (signing keys) or every identifier is re-encrypted (PII keys).
func keysCmd(_ context.Context, _ []string, out io.Writer) error {
	enc, idx := pii.GenerateKeyringSpec()
	fmt.Fprintf(out, "PATRONFED_TOKEN_KEYS=%s\nPATRONFED_PII_KEYS=%s\nPATRONFED_PII_INDEX_KEY=%s\n",
		auth.GenerateSigningKeySpec(), enc, idx)
	return nil
}
