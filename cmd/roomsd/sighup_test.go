package main

import (
	"bufio"
	"crypto/tls"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/roomsd/roomsd/internal/testutil"
)

// roomsd serve over HTTPS reads its certificate files again on SIGHUP
// (a renewal's deploy hook, systemctl reload) and serves the new one.
func TestSIGHUPReloadsTheCertificate(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	ca := testutil.NewCA(t)
	ca.Issue(t, 1, certFile, keyFile)
	env := map[string]string{"ROOMSD_ADDR": "127.0.0.1:0", "ROOMSD_DB": filepath.Join(dir, "roomsd.db"), "ROOMSD_API_KEYS": "k",
		"ROOMSD_RTC_LOOPBACK": "on", "ROOMSD_RTC_UDP_PORT": "0", "ROOMSD_TLS_CERT": certFile, "ROOMSD_TLS_KEY": keyFile,
		"ROOMSD_DATA_DIR": filepath.Join(dir, "data")}
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- run([]string{"serve"}, func(k string) string { return env[k] }, io.Discard, pw)
		pw.Close()
	}()
	lines := make(chan string, 1024)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	wait := func(re *regexp.Regexp) []string {
		t.Helper()
		deadline := time.After(time.Minute)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("roomsd stopped before logging %v", re)
				}
				if m := re.FindStringSubmatch(l); m != nil {
					return m
				}
			case <-deadline:
				t.Fatalf("roomsd did not log %v within a minute", re)
			}
		}
	}
	addr := wait(regexp.MustCompile(`msg="roomsd listening" url=https://([^/ ]+)/v2`))[1]
	serial := func() int64 {
		conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
	}
	if got := serial(); got != 1 {
		t.Fatalf("serial %d served; want 1", got)
	}
	ca.Issue(t, 2, certFile, keyFile)
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	wait(regexp.MustCompile(`SIGHUP: TLS certificate reloaded`))
	if got := serial(); got != 2 {
		t.Errorf("after SIGHUP, serial %d served; want 2", got)
	}
	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	select {
	case rc := <-done:
		if rc != 0 {
			t.Errorf("roomsd serve returned %d after SIGTERM", rc)
		}
	case <-time.After(time.Minute):
		t.Fatal("roomsd serve did not stop after SIGTERM")
	}
	for range lines {
	}
}
