package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/roomsd/roomsd/internal/app"
	"github.com/roomsd/roomsd/internal/config"
)

const keysUsage = `Usage: roomsd keys [--db DATABASE]

Prints the public keys of the server whose database it reads: the Ed25519
key that verifies webhooks and the id of the key that signs client
tokens. It reads the database a server has started on and creates none:
for a database that does not exist it fails.

Flags:
%s`

func keysMain(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("roomsd keys", flag.ContinueOnError)
	fs.SetOutput(stderr)
	db := fs.String("db", envDefault(getenv, "./roomsd.db", "ROOMSD_DB"), "the server's database: its SQLite file or postgres:// URL (env ROOMSD_DB)")
	tokenKey := fs.String("token-key", envDefault(getenv, "", "ROOMSD_TOKEN_KEY"), "the server's ROOMSD_TOKEN_KEY, if it sets one (env ROOMSD_TOKEN_KEY)")
	fs.Usage = usageWith(fs, stdout, keysUsage)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "roomsd keys: unexpected argument %q; run \"roomsd keys --help\"\n", fs.Arg(0))
		return 2
	}
	cfg := config.Config{DB: *db, TokenKey: *tokenKey}
	k, err := app.LoadKeys(context.Background(), cfg)
	if err != nil {
		fmt.Fprintf(stderr, "roomsd keys: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, `Database: %s

Webhook signing key (Ed25519, base64). Receivers verify telnyx-signature-ed25519 with it;
with the Telnyx SDKs set it as the client's publicKey (TELNYX_PUBLIC_KEY):

    %s

Also served at GET /.well-known/webhook-public-key.

Client-token key id (kid): %s
Its public key is served as a JWKS at GET /.well-known/jwks.json.
`, app.DatabaseName(cfg), k.WebhookPublicKey, k.TokenKeyID)
	return 0
}
