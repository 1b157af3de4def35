package blob

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestKeysCannotLeaveTheDirectory(t *testing.T) {
	for _, k := range []string{"", "/etc/passwd", "../x", "a/../../x", "a//b", ".hidden", "a/.b", `a\b`, "a/", "a b"} {
		if CheckKey(k) == nil {
			t.Errorf("key %q accepted", k)
		}
	}
	for _, k := range []string{"recordings/0ccc7b54-4df3-4bca-a65a-3da1ecc777f0", "a.b", "a/b_c-d.e"} {
		if err := CheckKey(k); err != nil {
			t.Errorf("key %q: %v", k, err)
		}
	}
}

func TestDir(t *testing.T) {
	ctx := context.Background()
	d, err := OpenDir(filepath.Join(t.TempDir(), "data"))
	if err != nil {
		t.Fatal(err)
	}
	w, err := d.Create(ctx, "recordings/r1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("hello world")); err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteAt([]byte("J"), 6); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := d.Open(ctx, "recordings/r1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r)
	r.Close()
	if string(b) != "hello Jorld" || r.Info().Size != 11 {
		t.Errorf("read %q (%d bytes)", b, r.Info().Size)
	}
	if p, ok := d.Path("recordings/r1"); !ok || filepath.Dir(p) != filepath.Join(d.Root(), "recordings") {
		t.Errorf("Path = %q, %v", p, ok)
	}
	if err := d.Delete(ctx, "recordings/r1"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Open(ctx, "recordings/r1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("after Delete: %v", err)
	}
	if _, err := d.Stat(ctx, "recordings/r1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Stat after Delete: %v", err)
	}
	if err := d.Delete(ctx, "recordings/r1"); err != nil {
		t.Errorf("deleting a missing blob: %v", err)
	}
}

func TestOpenDirRefusesUnwritable(t *testing.T) {
	if os.Getuid() == 0 {
		// root writes anywhere; a file in the way stands for a directory
		// that cannot be used.
		f := filepath.Join(t.TempDir(), "file")
		os.WriteFile(f, nil, 0o600)
		if _, err := OpenDir(filepath.Join(f, "data")); err == nil {
			t.Error("a data directory under a file was accepted")
		}
		return
	}
	dir := filepath.Join(t.TempDir(), "ro")
	os.Mkdir(dir, 0o500)
	if _, err := OpenDir(dir); err == nil {
		t.Error("a read-only data directory was accepted")
	}
}
