// Package tlsconf builds the server's TLS: a certificate and key from PEM
// files, read again when they change (or on Reload) so that a renewed
// certificate is served without a restart, or certificates obtained and
// renewed from an ACME certificate authority (Let's Encrypt by default)
// for the configured domains, with the HTTP-01 and TLS-ALPN-01 challenges.
package tlsconf

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// Config says where certificates come from: files, or ACME.
type Config struct {
	CertFile, KeyFile string

	// ACMEDomains are the names to obtain certificates for (none: no
	// ACME). ACMEDirectory is the CA's directory URL (empty: Let's
	// Encrypt); ACMECAFile, a PEM file of roots to trust for talking to
	// it, besides the system's (a private CA); CacheDir keeps the account
	// key and the certificates across restarts.
	ACMEDomains   []string
	ACMEEmail     string
	ACMEDirectory string
	ACMECAFile    string
	CacheDir      string

	Log *slog.Logger
}

// Server hands out the server's certificates.
type Server struct {
	files   *fileCert
	acme    *autocert.Manager
	domains map[string]bool
	log     *slog.Logger
}

// New loads what c names (config.Validate has checked that it names
// one source: ACME domains, or a certificate and its key): the files must
// hold a valid certificate and key now. It returns nil when c names
// neither.
func New(c Config) (*Server, error) {
	switch {
	case len(c.ACMEDomains) > 0:
		m, err := newACME(c)
		if err != nil {
			return nil, err
		}
		domains := map[string]bool{}
		for _, d := range c.ACMEDomains {
			domains[strings.ToLower(d)] = true
		}
		return &Server{acme: m, domains: domains, log: c.Log}, nil
	case c.CertFile == "":
		return nil, nil
	}
	f := &fileCert{certFile: c.CertFile, keyFile: c.KeyFile, log: c.Log}
	if err := f.Reload(); err != nil {
		return nil, err
	}
	return &Server{files: f}, nil
}

func newACME(c Config) (*autocert.Manager, error) {
	if c.CacheDir == "" {
		return nil, errors.New("ACME needs a directory for its account key and certificates")
	}
	if err := os.MkdirAll(c.CacheDir, 0o700); err != nil {
		return nil, fmt.Errorf("ACME cache: %w", err)
	}
	client := &acme.Client{DirectoryURL: c.ACMEDirectory, UserAgent: "roomsd"}
	if client.DirectoryURL == "" {
		client.DirectoryURL = autocert.DefaultACMEDirectory
	}
	if c.ACMECAFile != "" {
		pem, err := os.ReadFile(c.ACMECAFile)
		if err != nil {
			return nil, fmt.Errorf("ACME CA file: %w", err)
		}
		roots, err := x509.SystemCertPool()
		if err != nil {
			roots = x509.NewCertPool()
		}
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ACME CA file %s holds no PEM certificate", c.ACMECAFile)
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
		client.HTTPClient = &http.Client{Transport: tr, Timeout: time.Minute}
	}
	return &autocert.Manager{Prompt: autocert.AcceptTOS, Cache: autocert.DirCache(c.CacheDir),
		HostPolicy: autocert.HostWhitelist(c.ACMEDomains...), Email: c.ACMEEmail, Client: client}, nil
}

// TLSConfig is the listener's configuration: TLS 1.2 and up, HTTP/1.1
// (signaling is a WebSocket), and the ACME TLS-ALPN-01 challenge when ACME
// is on.
func (s *Server) TLSConfig() *tls.Config {
	if s.acme != nil {
		c := s.acme.TLSConfig()
		c.MinVersion = tls.VersionTLS12
		c.NextProtos = []string{"http/1.1", acme.ALPNProto}
		get := c.GetCertificate
		c.GetCertificate = func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			cert, err := get(hello)
			if err != nil && s.log != nil {
				// A name of ours that cannot get its certificate is the
				// operator's to fix; other names are clients' mistakes.
				level := slog.LevelDebug
				if s.domains[strings.ToLower(hello.ServerName)] {
					level = slog.LevelError
				}
				s.log.Log(context.Background(), level, "no TLS certificate", "server_name", hello.ServerName, "err", err)
			}
			return cert, err
		}
		return c
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}, GetCertificate: s.files.get}
}

// HTTPHandler serves the plain-HTTP listener: ACME HTTP-01 challenges
// when ACME is on, and fallback for everything else.
func (s *Server) HTTPHandler(fallback http.Handler) http.Handler {
	if s.acme == nil {
		return fallback
	}
	h := s.acme.HTTPHandler(fallback)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The CA asks for the domain; the listener may sit on another
		// port than 80 (mapped by a firewall or a container), and the
		// host policy knows names, not ports.
		if host, _, err := net.SplitHostPort(r.Host); err == nil {
			r = r.Clone(r.Context())
			r.Host = host
		}
		h.ServeHTTP(w, r)
	})
}

// Reload reads the certificate files again (SIGHUP); with ACME it does
// nothing (renewals are automatic).
func (s *Server) Reload() error {
	if s.files == nil {
		return nil
	}
	return s.files.Reload()
}

// fileCert is a certificate read from files, and read again when either
// file changes (looked at no more than once a second).
type fileCert struct {
	certFile, keyFile string
	log               *slog.Logger

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   string // the files' sizes and times when read
	checked time.Time
}

// Reload reads the files; on failure the certificate in use stays.
func (f *fileCert) Reload() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.loadLocked()
}

func (f *fileCert) loadLocked() error {
	stamp, err := f.stampNow()
	if err != nil {
		return err
	}
	cert, err := tls.LoadX509KeyPair(f.certFile, f.keyFile)
	if err != nil {
		return fmt.Errorf("TLS certificate %s and key %s: %w", f.certFile, f.keyFile, err)
	}
	if cert.Leaf != nil && time.Now().After(cert.Leaf.NotAfter) && f.log != nil {
		f.log.Warn("the TLS certificate has expired", "file", f.certFile, "not_after", cert.Leaf.NotAfter)
	}
	f.cert, f.stamp = &cert, stamp
	if f.log != nil && cert.Leaf != nil {
		f.log.Info("TLS certificate loaded", "file", f.certFile, "names", cert.Leaf.DNSNames, "not_after", cert.Leaf.NotAfter)
	}
	return nil
}

func (f *fileCert) stampNow() (string, error) {
	var stamp string
	for _, name := range []string{f.certFile, f.keyFile} {
		st, err := os.Stat(name)
		if err != nil {
			return "", fmt.Errorf("TLS file: %w", err)
		}
		stamp += fmt.Sprintf("%d/%d;", st.Size(), st.ModTime().UnixNano())
	}
	return stamp, nil
}

// get serves the handshake: the certificate, read again first if the
// files have changed since it was.
func (f *fileCert) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if now := time.Now(); now.Sub(f.checked) >= time.Second {
		f.checked = now
		if stamp, err := f.stampNow(); err == nil && stamp != f.stamp {
			if err := f.loadLocked(); err != nil && f.log != nil {
				// Half-written files, say: the old certificate stays
				// until the new one reads whole.
				f.log.Error("TLS certificate changed but cannot be read; serving the previous one", "err", err)
			}
		}
	}
	return f.cert, nil
}
