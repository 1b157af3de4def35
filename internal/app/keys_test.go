package app_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/roomsd/roomsd/internal/app"
	"github.com/roomsd/roomsd/internal/auth"
	"github.com/roomsd/roomsd/internal/store/sqlite"
)

// The key created on first start is kept only as its SHA-256: the clear
// key appears nowhere in the database's files.
func TestCreatedKeyIsStoredHashed(t *testing.T) {
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "roomsd.db")
	var out bytes.Buffer
	a, err := app.New(ctx, cfg(t, db), app.Options{Stdout: &out, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	key := keyRE.FindString(out.String())
	if key == "" {
		t.Fatalf("first start printed no key:\n%s", out.String())
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(db + "*")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(key)) {
			t.Errorf("%s holds the API key in clear", filepath.Base(f))
		}
	}
	st, err := sqlite.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	hashes, err := st.APIKeyHashes(ctx)
	if err != nil || len(hashes) != 1 || !bytes.Equal(hashes[0], auth.Hash(key)) {
		t.Errorf("stored key hashes %x (%v), want the one SHA-256 %x", hashes, err, auth.Hash(key))
	}
}
