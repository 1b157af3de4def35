package main

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/roomsd/roomsd/internal/config"
	"github.com/roomsd/roomsd/internal/testutil"
)

func runCmd(env map[string]string, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, func(k string) string { return env[k] }, &out, &errb)
	return code, out.String(), errb.String()
}

// The top-level help lists the commands; --version is version; an unknown
// command is one line with a hint; the server's flags show what kind of
// value each takes and its default once.
func TestCommandLine(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		code, out, _ := runCmd(nil, args...)
		for _, cmd := range []string{"roomsd bot", "roomsd keys", "roomsd version", "roomsd help"} {
			if code != 0 || !strings.Contains(out, cmd) {
				t.Errorf("roomsd %v: exit %d, does not list %q: %q", args, code, cmd, out)
			}
		}
	}
	_, v1, _ := runCmd(nil, "version")
	code, v2, _ := runCmd(nil, "--version")
	if code != 0 || v1 != v2 || !strings.Contains(v1, "revision: ") {
		t.Errorf("--version: exit %d, %q; version: %q", code, v2, v1)
	}
	code, out, errs := runCmd(nil, "frob")
	if code != 2 || out != "" || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, `unknown command "frob"`) ||
		!strings.Contains(errs, "roomsd help") {
		t.Errorf("unknown command: exit %d, %q %q", code, out, errs)
	}
	_, out, errs = runCmd(nil, "serve", "--help")
	help := out + errs
	for _, want := range []string{"--empty-timeout duration\n", "--list-cache on|off\n", "(ROOMSD_EMPTY_TIMEOUT; default: 30s)"} {
		if !strings.Contains(help, want) {
			t.Errorf("serve --help lacks %q", want)
		}
	}
	if n := strings.Count(help, "30s"); n != 1 {
		t.Errorf("serve --help names the empty timeout's default %d times, want once", n)
	}
	code, out, _ = runCmd(nil, "keys", "--help")
	if code != 0 || !strings.Contains(out, "Usage: roomsd keys") || !strings.Contains(out, "-db") {
		t.Errorf("keys --help: exit %d, %q", code, out)
	}
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

// roomsd keys creates no database: for one that does not exist it fails
// with a message saying what to do, and leaves no file behind. On a
// server's database it names the database and prints the same key on
// every run.
func TestKeysCommand(t *testing.T) {
	db := filepath.Join(t.TempDir(), "k.db")
	env := map[string]string{"ROOMSD_DB": db}
	code, out, errs := runCmd(env, "keys")
	if code != 1 || !strings.Contains(errs, db) || !strings.Contains(errs, "start the server on it once") {
		t.Errorf("keys on a missing database: exit %d, %q %q", code, out, errs)
	}
	if _, err := os.Stat(db); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("keys created %s: %v", db, err)
	}
	testutil.StartApp(t, func(c *config.Config) { c.DB = db })
	code, out, errs = runCmd(env, "keys")
	if code != 0 || !strings.Contains(out, "Webhook signing key") || !strings.Contains(out, "Database: "+db) {
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
