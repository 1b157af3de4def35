// Package deploy holds roomsd's packaging: a hardened systemd unit and a
// minimal container image. Its tests check what this machine can: the
// unit against systemd's own checker, and the static binary the image is
// built from running with nothing else around it (a root of its own, as
// in the image), since there may be no container engine here.
package deploy_test

import (
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// binary is roomsd built as the Dockerfile builds it, once for all the
// tests (TestMain).
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "roomsd-deploy-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "roomsd")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", binary, "../cmd/roomsd")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build roomsd as the Dockerfile does: %v\n%s", err, b)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func build(*testing.T) string { return binary }

func TestSystemdUnit(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not on this machine; the unit is unchecked here")
	}
	bin := build(t)
	unit, err := os.ReadFile("roomsd.service")
	if err != nil {
		t.Fatal(err)
	}
	// The unit as installed, naming the binary where it is here.
	dir := t.TempDir()
	path := filepath.Join(dir, "roomsd.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/roomsd", bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// The image holds the binary and an empty /data (and distroless's /tmp
// and CA certificates): the binary must run on that alone.
func TestStaticBinaryRunsAlone(t *testing.T) {
	bin := build(t)
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("the binary needs a dynamic loader: it is not static")
		}
	}
	f.Close()
	if os.Geteuid() != 0 {
		t.Skip("running it in a root of its own needs chroot, which needs root")
	}
	root := t.TempDir()
	for _, d := range []string{"usr/local/bin", "data", "tmp", "etc/ssl/certs"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(filepath.Join(root, "tmp"), 0o1777)
	copyFile(t, bin, filepath.Join(root, "usr/local/bin/roomsd"), 0o755)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command("chroot", root, "/usr/local/bin/roomsd", "serve")
	cmd.Env = []string{"ROOMSD_ADDR=" + addr, "ROOMSD_DB=/data/roomsd.db", "ROOMSD_DATA_DIR=/data/files", "ROOMSD_COMPOSE_WORKERS=0",
		"ROOMSD_API_KEYS=k", "ROOMSD_RTC_LOOPBACK=on", "ROOMSD_RTC_UDP_PORT=0", "ROOMSD_LOG_FORMAT=json"}
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		if err := <-done; err != nil {
			t.Errorf("roomsd after SIGTERM: %v", err)
		}
		if t.Failed() {
			t.Logf("roomsd said:\n%s", logs.String())
		}
	}()
	base := "http://" + addr
	deadline := time.Now().Add(time.Minute)
	for {
		res, err := http.Get(base + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready within a minute: %v", err)
		}
		select {
		case err := <-done:
			done <- err
			t.Fatalf("roomsd exited: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	req, _ := http.NewRequest("POST", base+"/v2/rooms", strings.NewReader(`{"unique_name":"alone"}`))
	req.Header.Set("Authorization", "Bearer k")
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var room struct {
		Data struct {
			UniqueName string `json:"unique_name"`
		} `json:"data"`
	}
	json.NewDecoder(res.Body).Decode(&room)
	res.Body.Close()
	if res.StatusCode != 201 || room.Data.UniqueName != "alone" {
		t.Errorf("create a room: %d %+v", res.StatusCode, room)
	}
	if _, err := os.Stat(filepath.Join(root, "data", "roomsd.db")); err != nil {
		t.Errorf("the database is not in /data: %v", err)
	}
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(fmt.Errorf("copy %s: %w", from, err))
	}
}
