package app_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/roomsd/roomsd/internal/app"
	"github.com/roomsd/roomsd/internal/config"
	"github.com/roomsd/roomsd/internal/testutil"
)

// acmeCA is Let's Encrypt's test CA, pebble, answering on 127.0.0.1 with
// a DNS server of its own (pebble-challtestsrv) that resolves every name
// to 127.0.0.1, so that its validations reach the roomsd under test. Both
// are Go tools pinned in go.mod, built by the go command.
type acmeCA struct {
	directory string // the ACME directory URL
	caFile    string // PEM of the CA that signed pebble's own HTTPS certificate
	mgmt      string // pebble's management address
	client    *http.Client
	stop      func()
}

// buildTool builds a tool of go.mod into dir.
func buildTool(t *testing.T, dir, pkg string) string {
	t.Helper()
	out := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, pkg)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// freeTCPAndUDPPort is a port of 127.0.0.1 free for both TCP and UDP
// when asked (a DNS server takes both).
func freeTCPAndUDPPort(t *testing.T) int {
	t.Helper()
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		c, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		ln.Close()
		if err == nil {
			c.Close()
			return port
		}
	}
}

func portOf(addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	return n
}

// startProcess runs cmd in its own process group, killed by the function
// it returns or when the test ends; its output goes to log.
func startProcess(t *testing.T, cmd *exec.Cmd, log syncWriter) func() {
	t.Helper()
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			cmd.Wait()
		})
	}
	t.Cleanup(stop)
	return stop
}

// startPebble starts the CA. tlsPort and httpPort are where its
// validations connect (TLS-ALPN-01, HTTP-01) on 127.0.0.1.
func startPebble(t *testing.T, tlsPort, httpPort int) *acmeCA {
	t.Helper()
	dir := t.TempDir()
	pebble := buildTool(t, dir, "github.com/letsencrypt/pebble/v2/cmd/pebble")
	challtest := buildTool(t, dir, "github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv")
	ca := testutil.NewCA(t)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	ca.Issue(t, 1, certFile, keyFile)
	caFile := filepath.Join(dir, "ca.pem")
	ca.WriteCA(t, caFile)
	dns := fmt.Sprintf("127.0.0.1:%d", freeTCPAndUDPPort(t))
	log := syncWriter{mu: new(sync.Mutex), b: new(strings.Builder)}
	t.Cleanup(func() {
		if t.Failed() {
			log.mu.Lock()
			defer log.mu.Unlock()
			t.Logf("pebble and its DNS server said:\n%s", log.b.String())
		}
	})
	stopDNS := startProcess(t, exec.Command(challtest, "-dnsserver", dns, "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
		"-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "", "-management", freePort(t)), log)
	// The CA's validations need the DNS server: wait until it answers.
	resolver := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "udp", dns)
	}}
	testutil.Eventually(t, 60*time.Second, "the CA's DNS server answers", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		addrs, err := resolver.LookupHost(ctx, "rooms.test")
		return err == nil && len(addrs) > 0 && addrs[0] == "127.0.0.1"
	})
	listen, mgmt := freePort(t), freePort(t)
	conf := map[string]any{"pebble": map[string]any{
		"listenAddress": listen, "managementListenAddress": mgmt, "certificate": certFile, "privateKey": keyFile,
		"httpPort": httpPort, "tlsPort": tlsPort, "ocspResponderURL": "", "externalAccountBindingRequired": false,
		"retryAfter": map[string]int{"authz": 1, "order": 1}, "keyAlgorithm": "ecdsa",
		"profiles": map[string]any{"default": map[string]any{"description": "default", "validityPeriod": 7776000}},
	}}
	confFile := filepath.Join(dir, "pebble.json")
	b, _ := json.Marshal(conf)
	if err := os.WriteFile(confFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(pebble, "-config", confFile, "-dnsserver", dns)
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0")
	stopCA := startProcess(t, cmd, log)
	c := &acmeCA{directory: "https://" + listen + "/dir", caFile: caFile, mgmt: mgmt, stop: func() { stopCA(); stopDNS() },
		client: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool}}}}
	testutil.Eventually(t, 60*time.Second, "pebble serves its directory", func() bool {
		res, err := c.client.Get(c.directory)
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == 200
	})
	return c
}

// roots is the pool of the CA's root, which signs what it issues.
func (c *acmeCA) roots(t *testing.T) *x509.CertPool {
	t.Helper()
	res, err := c.client.Get("https://" + c.mgmt + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		t.Fatalf("pebble's root: %s", b)
	}
	return pool
}

// serveACME starts roomsd with ACME certificates for rooms.test from ca;
// the function it returns stops it (so does the end of the test).
func serveACME(t *testing.T, ca *acmeCA, addr, httpAddr, dataDir string) func() {
	t.Helper()
	c := config.Config{Addr: addr, HTTPAddr: httpAddr, DB: filepath.Join(dataDir, "roomsd.db"), DataDir: dataDir, APIKeys: []string{"k"},
		LogFormat: "text", ShutdownTimeout: 5 * time.Second, RTCLoopback: true, EmptyTimeout: time.Minute,
		ACMEDomains: []string{"rooms.test"}, ACMEDirectory: ca.directory, ACMECA: ca.caFile, ACMEEmail: "ops@rooms.test"}
	_, stop := serveOn(t, c)
	return stop
}

// serveOn runs an App built from c as production does (App.Serve) on
// c.Addr; the function it returns stops it, as the end of the test does.
// What the server logs is shown if the test fails.
func serveOn(t *testing.T, c config.Config) (*app.App, func()) {
	t.Helper()
	var log testutil.SyncBuffer
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("roomsd said:\n%s", log.String())
		}
	})
	a, err := app.New(context.Background(), c, app.Options{Stdout: io.Discard, Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		a.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- a.Serve(ctx, ln) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			<-served
		})
	}
	t.Cleanup(stop)
	return a, stop
}

// issued waits until roomsd at addr serves rooms.test a certificate that
// chains to roots, and returns it.
func issued(t *testing.T, addr string, roots *x509.CertPool) *x509.Certificate {
	t.Helper()
	var leaf *x509.Certificate
	testutil.Eventually(t, 2*time.Minute, "roomsd serves a certificate for rooms.test issued by the ACME CA", func() bool {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 30 * time.Second}, "tcp", addr, &tls.Config{RootCAs: roots, ServerName: "rooms.test"})
		if err != nil {
			return false
		}
		defer conn.Close()
		leaf = conn.ConnectionState().PeerCertificates[0]
		return true
	})
	if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != "rooms.test" {
		t.Errorf("certificate names %v", leaf.DNSNames)
	}
	// And HTTPS works with it.
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "rooms.test"}}}
	res, err := hc.Get("https://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Errorf("/healthz over the ACME certificate: %d", res.StatusCode)
	}
	return leaf
}

// TLS-ALPN-01: the CA validates on the HTTPS port itself; no plain-HTTP
// listener. A restart serves the certificate kept in the data directory,
// with the CA gone.
func TestACMEWithTLSALPN(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs an ACME CA")
	}
	addr := freePort(t)
	ca := startPebble(t, portOf(addr), portOf(freePort(t)))
	roots := ca.roots(t)
	dataDir := t.TempDir()
	stop := serveACME(t, ca, addr, "", dataDir)
	first := issued(t, addr, roots)
	stop()
	ca.stop()
	serveACME(t, ca, addr, "", dataDir)
	if again := issued(t, addr, roots); again.SerialNumber.Cmp(first.SerialNumber) != 0 {
		t.Errorf("after a restart, certificate %v; want the kept one, %v", again.SerialNumber, first.SerialNumber)
	}
}

// HTTP-01: the CA cannot reach the HTTPS port (its TLS-ALPN-01 check
// fails), and validates through the plain-HTTP listener instead.
func TestACMEWithHTTP01(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs an ACME CA")
	}
	addr, httpAddr := freePort(t), freePort(t)
	ca := startPebble(t, portOf(freePort(t)), portOf(httpAddr))
	serveACME(t, ca, addr, httpAddr, t.TempDir())
	issued(t, addr, ca.roots(t))
}

// syncWriter is a strings.Builder two processes' output can share.
type syncWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (w syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}
