package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/roomsd/roomsd/internal/app"
	"github.com/roomsd/roomsd/internal/config"
)

// keysMain prints the public keys receivers and token checkers need.
func keysMain(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, err := config.Load(args, getenv, stderr)
	if errors.Is(err, config.ErrHelp) {
		fmt.Fprint(stdout, "\nroomsd keys prints the server's public keys (creating them in the database on first use):\n"+
			"the Ed25519 key that verifies webhooks, and the id of the client-token key.\n")
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "roomsd keys: %v\n", err)
		return 2
	}
	k, err := app.LoadKeys(context.Background(), cfg)
	if err != nil {
		fmt.Fprintf(stderr, "roomsd keys: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, `Webhook signing key (Ed25519, base64). Receivers verify telnyx-signature-ed25519 with it;
with the Telnyx SDKs set it as the client's publicKey (TELNYX_PUBLIC_KEY):

    %s

Also served at GET /.well-known/webhook-public-key.

Client-token key id (kid): %s
Its public key is served as a JWKS at GET /.well-known/jwks.json.
`, k.WebhookPublicKey, k.TokenKeyID)
	return 0
}
