package main

import (
	"bytes"
	"encoding/base64"
	"path/filepath"
	"strings"
	"testing"
)

func runCmd(env map[string]string, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, func(k string) string { return env[k] }, &out, &errb)
	return code, out.String(), errb.String()
}

func TestHelpAndVersion(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"version", "--help"}, {"serve", "--help"}, {"--help"}, {"-h"}} {
		code, out, errs := runCmd(nil, args...)
		if code != 0 || !strings.Contains(out+errs, "Usage:") || !strings.Contains(out+errs, "roomsd") {
			t.Errorf("roomsd %v: exit %d, output %q", args, code, out+errs)
		}
	}
	_, out, errs := runCmd(nil, "serve", "--help")
	for _, want := range []string{"ROOMSD_ADDR", "ROOMSD_DB", "ROOMSD_API_KEYS", "127.0.0.1:8080", "./roomsd.db", "ROOMSD_LOG_LEVEL"} {
		if !strings.Contains(out+errs, want) {
			t.Errorf("serve --help does not mention %s", want)
		}
	}
	code, out, _ := runCmd(nil, "version")
	if code != 0 || !strings.HasPrefix(out, "roomsd ") || !strings.Contains(out, "go1.") {
		t.Errorf("version: exit %d, %q", code, out)
	}
}

func TestBadConfigurationSaysWhatToDo(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		env  map[string]string
		args []string
		code int
		want string
	}{
		{nil, []string{"--nope"}, 2, "flag provided but not defined"},
		{map[string]string{"ROOMSD_ADDR": "8080"}, nil, 2, "host:port"},
		{map[string]string{"ROOMSD_LOG_LEVEL": "loud"}, nil, 2, "debug, info, warn, error"},
		{map[string]string{"ROOMSD_DB": "postgres://roomsd@127.0.0.1:1/roomsd", "ROOMSD_DATA_DIR": dir}, nil, 1, "open database postgres://"},
		{map[string]string{"ROOMSD_DB": filepath.Join(dir, "missing", "dir", "x.db")}, nil, 1, "open database"},
		{nil, []string{"serve", "extra"}, 2, "unexpected argument"},
	}
	for _, tc := range cases {
		code, _, errs := runCmd(tc.env, tc.args...)
		if code != tc.code || !strings.Contains(errs, tc.want) {
			t.Errorf("env %v args %v: exit %d, stderr %q; want exit %d mentioning %q", tc.env, tc.args, code, errs, tc.code, tc.want)
		}
	}
}

func TestFlagBeatsEnvironment(t *testing.T) {
	dir := t.TempDir()
	// A valid address in the environment, an unparsable one in the flag:
	// the error names the flag's value, so the flag won.
	code, _, errs := runCmd(map[string]string{"ROOMSD_ADDR": "127.0.0.1:0", "ROOMSD_DB": filepath.Join(dir, "a.db")}, "--addr", "nohostport")
	if code != 2 || !strings.Contains(errs, `"nohostport"`) {
		t.Errorf("flag did not override: exit %d %q", code, errs)
	}
}

// roomsd keys prints the webhook public key that the server also serves,
// and the same one on every run against one database.
func TestKeysCommand(t *testing.T) {
	env := map[string]string{"ROOMSD_DB": filepath.Join(t.TempDir(), "k.db")}
	code, out, errs := runCmd(env, "keys")
	if code != 0 || !strings.Contains(out, "Webhook signing key") {
		t.Fatalf("keys: exit %d, %q %q", code, out, errs)
	}
	key := strings.Fields(strings.SplitN(out, "TELNYX_PUBLIC_KEY):", 2)[1])[0]
	if b, err := base64.StdEncoding.DecodeString(key); err != nil || len(b) != 32 {
		t.Fatalf("printed key %q is not a base64 Ed25519 public key", key)
	}
	_, again, _ := runCmd(env, "keys")
	if !strings.Contains(again, key) {
		t.Errorf("the key changed between runs")
	}
}
