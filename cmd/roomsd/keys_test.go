package main

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/roomsd/roomsd/internal/config"
	"github.com/roomsd/roomsd/internal/testutil"
)

// The keys roomsd keys prints are the ones a server on the same database
// then serves: the webhook public key at /.well-known/webhook-public-key
// and the token key id as the kid in /.well-known/jwks.json.
func TestKeysCommandMatchesServedKeys(t *testing.T) {
	db := filepath.Join(t.TempDir(), "k.db")
	s := testutil.StartApp(t, func(c *config.Config) { c.DB = db })
	code, out, errs := runCmd(map[string]string{"ROOMSD_DB": db}, "keys")
	if code != 0 {
		t.Fatalf("keys: exit %d, %q %q", code, out, errs)
	}
	_, rest, ok := strings.Cut(out, "TELNYX_PUBLIC_KEY):")
	if !ok || len(strings.Fields(rest)) == 0 {
		t.Fatalf("keys printed no webhook key: %q", out)
	}
	printedKey := strings.Fields(rest)[0]
	_, rest, ok = strings.Cut(out, "Client-token key id (kid):")
	if !ok || len(strings.Fields(rest)) == 0 {
		t.Fatalf("keys printed no token key id: %q", out)
	}
	printedKid := strings.Fields(rest)[0]

	status, served := s.Call("GET", "/.well-known/webhook-public-key", nil)
	if status != http.StatusOK {
		t.Fatalf("GET /.well-known/webhook-public-key: %d %v", status, served)
	}
	if served["public_key"] != printedKey {
		t.Errorf("keys printed webhook key %q, the server serves %v", printedKey, served["public_key"])
	}
	status, jwks := s.Call("GET", "/.well-known/jwks.json", nil)
	if status != http.StatusOK {
		t.Fatalf("GET /.well-known/jwks.json: %d %v", status, jwks)
	}
	keys, _ := jwks["keys"].([]any)
	if len(keys) != 1 {
		t.Fatalf("jwks lists %d keys, want 1: %v", len(keys), jwks)
	}
	if k, _ := keys[0].(map[string]any); k["kid"] != printedKid {
		t.Errorf("keys printed kid %q, jwks lists %v", printedKid, k["kid"])
	}
}
