package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/roomsd/roomsd/internal/config"
	"github.com/roomsd/roomsd/internal/store/sqlite"
	"github.com/roomsd/roomsd/internal/testutil"
)

// A backup taken while the server runs holds what the server wrote, and
// opens as a database of its own.
func TestBackupWhileServing(t *testing.T) {
	if os.Getenv("ROOMSD_TEST_STORE") == "postgres" {
		t.Skip("a SQLite backup")
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "live.db")
	s := testutil.StartApp(t, func(c *config.Config) { c.DB = db })
	code, out := s.Call("POST", "/v2/rooms", map[string]any{"unique_name": "kept"})
	if code != 201 {
		t.Fatalf("create room: %d %v", code, out)
	}
	id := out["data"].(map[string]any)["id"].(string)

	to := filepath.Join(dir, "copy.db")
	var stdout, stderr bytes.Buffer
	if rc := run([]string{"backup", "--db", db, "--to", to}, func(string) string { return "" }, &stdout, &stderr); rc != 0 {
		t.Fatalf("roomsd backup: %d %s", rc, stderr.String())
	}
	if !strings.Contains(stdout.String(), "Backed up "+db+" to "+to) {
		t.Errorf("stdout %q", stdout.String())
	}
	st, err := sqlite.Open(context.Background(), to)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r, err := st.GetRoom(context.Background(), id)
	if err != nil || r.UniqueName == nil || *r.UniqueName != "kept" {
		t.Errorf("the room in the backup: %+v, %v", r, err)
	}

	// A file that exists is not overwritten; a database that does not
	// exist is not made; PostgreSQL has its own tools.
	for _, c := range []struct {
		args []string
		rc   int
		want string
	}{
		{[]string{"backup", "--db", db, "--to", to}, 1, "the file exists; give a new file"},
		{[]string{"backup", "--db", filepath.Join(dir, "none.db"), "--to", filepath.Join(dir, "x.db")}, 1, "no such file"},
		{[]string{"backup", "--db", "postgres://u@h/db", "--to", filepath.Join(dir, "y.db")}, 2, "pg_dump"},
		{[]string{"backup", "--db", db}, 2, "--to is required"},
	} {
		stderr.Reset()
		if rc := run(c.args, func(string) string { return "" }, &stdout, &stderr); rc != c.rc || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%v: %d %q; want %d and %q", c.args, rc, stderr.String(), c.rc, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "none.db")); err == nil {
		t.Error("backup of a missing database made one")
	}
}
