package app_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/roomsd/roomsd/internal/client"
	"github.com/roomsd/roomsd/internal/config"
	"github.com/roomsd/roomsd/internal/testutil"
)

// freePort is a TCP port of 127.0.0.1 free when asked.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// servedSerial is the serial number of the certificate a new TLS
// connection to addr is given.
func servedSerial(t *testing.T, addr string, roots *x509.CertPool) int64 {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatalf("TLS to %s: %v", addr, err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
}

func TestHTTPS(t *testing.T) {
	ca := testutil.NewCA(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	ca.Issue(t, 100, certFile, keyFile)
	addr, plain := freePort(t), freePort(t)
	c := config.Config{Addr: addr, HTTPAddr: plain, DB: filepath.Join(dir, "roomsd.db"), APIKeys: []string{"k"}, LogFormat: "text",
		ShutdownTimeout: 5 * time.Second, RTCLoopback: true, EmptyTimeout: time.Minute, ReconnectGrace: 5 * time.Second,
		TLSCert: certFile, TLSKey: keyFile}
	a, _ := serveOn(t, c)
	base := "https://" + addr
	httpsClient := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool}}}
	testutil.Eventually(t, 20*time.Second, "the HTTPS listener answers", func() bool {
		res, err := httpsClient.Get(base + "/healthz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == 200
	})

	// HTTPS, with HSTS; the API and its key as usual.
	req, _ := http.NewRequest("POST", base+"/v2/rooms", nil)
	req.Header.Set("Authorization", "Bearer k")
	res, err := httpsClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var room struct {
		Data struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	json.NewDecoder(res.Body).Decode(&room)
	res.Body.Close()
	if res.StatusCode != 201 || res.Header.Get("Strict-Transport-Security") != "max-age=31536000" {
		t.Fatalf("create room over HTTPS: %d, HSTS %q", res.StatusCode, res.Header.Get("Strict-Transport-Security"))
	}

	// Plain HTTP beside it: a permanent redirect to the same path over
	// HTTPS, and no HSTS (browsers ignore it there).
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err = noFollow.Get("http://" + plain + "/v2/rooms?page[size]=1")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusPermanentRedirect || res.Header.Get("Location") != base+"/v2/rooms?page[size]=1" ||
		res.Header.Get("Strict-Transport-Security") != "" {
		t.Errorf("plain HTTP: %d to %q, HSTS %q", res.StatusCode, res.Header.Get("Location"), res.Header.Get("Strict-Transport-Security"))
	}

	// A meeting over wss://.
	tok := func() string {
		req, _ := http.NewRequest("POST", base+"/v2/rooms/"+room.Data.ID+"/actions/generate_join_client_token", nil)
		req.Header.Set("Authorization", "Bearer k")
		res, err := httpsClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out struct {
			Data struct {
				Token string `json:"token"`
			} `json:"data"`
		}
		json.NewDecoder(res.Body).Decode(&out)
		return out.Data.Token
	}
	jctx, jcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer jcancel()
	join := func(who string) *client.Client {
		c, err := client.Join(jctx, client.ConnectURL(base, room.Data.ID), tok(), client.Options{Context: who, Audio: true, Video: true,
			Loopback: true, HTTPClient: httpsClient})
		if err != nil {
			t.Fatalf("%s joins over wss: %v", who, err)
		}
		t.Cleanup(c.Close)
		return c
	}
	alice, bob := join("Alice"), join("Bob")
	testutil.Eventually(t, 30*time.Second, "the two exchange media", func() bool {
		return received(alice, bob.ParticipantID, "video") > 10 && received(bob, alice.ParticipantID, "video") > 10
	})

	// A renewed certificate is served once its files change, without a
	// restart; the meeting goes on.
	ca.Issue(t, 200, certFile, keyFile)
	testutil.Eventually(t, 20*time.Second, "the renewed certificate is served", func() bool {
		return servedSerial(t, addr, ca.Pool) == 200
	})
	before := received(bob, alice.ParticipantID, "video")
	testutil.Eventually(t, 20*time.Second, "the meeting goes on after the renewal", func() bool {
		return received(bob, alice.ParticipantID, "video") > before+20
	})
	// SIGHUP's reload takes the files at once.
	ca.Issue(t, 300, certFile, keyFile)
	if err := a.ReloadTLS(); err != nil {
		t.Fatal(err)
	}
	if got := servedSerial(t, addr, ca.Pool); got != 300 {
		t.Errorf("after a reload, serial %d is served; want 300", got)
	}
	// Files that do not read (half written) leave the certificate in use.
	testutil.WriteAtomically(t, certFile, []byte("not a certificate"))
	if err := a.ReloadTLS(); err == nil {
		t.Error("a reload of a broken certificate file succeeded")
	}
	if got := servedSerial(t, addr, ca.Pool); got != 300 {
		t.Errorf("after a failed reload, serial %d is served; want 300 still", got)
	}
	for _, c := range []*client.Client{alice, bob} {
		select {
		case <-c.Done():
			t.Errorf("%s was dropped: %v", c.ParticipantID, c.CloseErr())
		default:
		}
	}
}
