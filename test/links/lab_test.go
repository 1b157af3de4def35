// Package links runs roomsd and `roomsd bot` participants over impaired
// links on this machine: each participant in its own network namespace,
// joined to the server's namespace by a veth pair whose server end is
// shaped with tc (tbf, the rate of a weak link) and whose far end drops
// packets at random with iptables (loss). Nothing leaves the machine.
//
// It needs root (or CAP_NET_ADMIN), ip, tc and iptables; where the kernel
// or the user may not create namespaces, the tests are skipped and say so.
package links

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/roomsd/roomsd/internal/bot"
	"github.com/roomsd/roomsd/internal/testutil"
)

// lab is a set of namespaces around a server address of their own.
type lab struct {
	t      *testing.T
	tag    string // a few random hex digits naming this run's interfaces
	subnet int    // the second octet of this run's addresses: 10.<subnet>.x.y
	server string // the server's address
	n      int
}

// newLab checks that namespaces can be made here and makes the server's
// address; it skips the test if they cannot.
func newLab(t *testing.T) *lab {
	t.Helper()
	if testing.Short() {
		t.Skip("network namespace tests skipped in -short mode")
	}
	for _, tool := range []string{"ip", "tc", "iptables"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("network namespace tests need %s (Debian packages iproute2 and iptables): %v", tool, err)
		}
	}
	b := make([]byte, 2)
	rand.Read(b)
	l := &lab{t: t, tag: hex.EncodeToString(b), subnet: 200 + int(b[0])%50}
	probe := "rd" + l.tag + "p"
	if out, err := exec.Command("ip", "netns", "add", probe).CombinedOutput(); err != nil {
		t.Skipf("this kernel or user may not create network namespaces (ip netns add: %v: %s); run as root to test impaired links", err, bytes.TrimSpace(out))
	}
	l.run("ip", "netns", "del", probe)
	// The server's address sits on the loopback interface: every
	// namespace routes to it through its own link. ("replace": a run
	// killed before its cleanup may have left the address there.)
	l.server = fmt.Sprintf("10.%d.0.1", l.subnet)
	l.run("ip", "addr", "replace", l.server+"/32", "dev", "lo")
	t.Cleanup(func() { exec.Command("ip", "addr", "del", l.server+"/32", "dev", "lo").Run() })
	return l
}

func (l *lab) run(name string, args ...string) {
	l.t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		l.t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

// host is one namespace with a link to the server's.
type host struct {
	l      *lab
	ns     string
	veth   string // the server's end, where what the host receives is shaped
	addr   string
	gw     string
	shaped bool
}

// host makes a namespace linked to the server's by a veth pair.
func (l *lab) host(name string) *host {
	l.t.Helper()
	l.n++
	h := &host{l: l, ns: "rd" + l.tag + name, veth: fmt.Sprintf("rd%sh%d", l.tag, l.n),
		gw: fmt.Sprintf("10.%d.%d.1", l.subnet, l.n), addr: fmt.Sprintf("10.%d.%d.2", l.subnet, l.n)}
	peer := fmt.Sprintf("rd%sn%d", l.tag, l.n)
	l.run("ip", "netns", "add", h.ns)
	l.t.Cleanup(func() { exec.Command("ip", "netns", "del", h.ns).Run() })
	l.run("ip", "link", "add", h.veth, "type", "veth", "peer", "name", peer)
	l.run("ip", "link", "set", peer, "netns", h.ns)
	l.run("ip", "addr", "add", h.gw+"/24", "dev", h.veth)
	l.run("ip", "link", "set", h.veth, "up")
	l.run("ip", "netns", "exec", h.ns, "ip", "addr", "add", h.addr+"/24", "dev", peer)
	l.run("ip", "netns", "exec", h.ns, "ip", "link", "set", peer, "up")
	l.run("ip", "netns", "exec", h.ns, "ip", "link", "set", "lo", "up")
	l.run("ip", "netns", "exec", h.ns, "ip", "route", "add", "default", "via", h.gw)
	return h
}

// limit caps what the host receives at rate (tc tbf syntax, e.g.
// 400kbit), with a queue of at most 200 ms, as a weak link would.
func (h *host) limit(rate string) {
	h.l.t.Helper()
	verb := "add"
	if h.shaped {
		verb = "change"
	}
	h.l.run("tc", "qdisc", verb, "dev", h.veth, "root", "tbf", "rate", rate, "burst", "5kb", "latency", "200ms")
	h.shaped = true
}

// unlimit lifts the cap.
func (h *host) unlimit() {
	h.l.t.Helper()
	h.l.run("tc", "qdisc", "del", "dev", h.veth, "root")
	h.shaped = false
}

// blockUDP drops every UDP packet the host receives or sends (its media);
// TCP (signaling) goes on.
func (h *host) blockUDP() {
	h.l.t.Helper()
	for _, chain := range []string{"INPUT", "OUTPUT"} {
		h.l.run("ip", "netns", "exec", h.ns, "iptables", "-I", chain, "-p", "udp", "-j", "DROP")
	}
}

// loss drops that fraction of the packets the host receives and sends.
func (h *host) loss(fraction float64) {
	h.l.t.Helper()
	p := fmt.Sprintf("%.3f", fraction)
	for _, chain := range []string{"INPUT", "OUTPUT"} {
		h.l.run("ip", "netns", "exec", h.ns, "iptables", "-A", chain, "-p", "udp", "-m", "statistic", "--mode", "random", "--probability", p, "-j", "DROP")
	}
}

// server is a roomsd process in the server's namespace.
type server struct {
	url, key string
	bin      string
	logMu    sync.Mutex
	log      strings.Builder
	// caFile, with HTTPS, is the certificate clients trust (SSL_CERT_FILE
	// for bots); client trusts it for the test's own requests.
	caFile string
	client *http.Client
}

// dumpMedia shows, for a failed test, what the server logged of its
// congestion control (probes, falls of the estimate, layer caps) and of
// retransmission requests it could not answer in full.
func (s *server) dumpMedia(t *testing.T) {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	var b strings.Builder
	for _, line := range strings.Split(s.log.String(), "\n") {
		if strings.Contains(line, "probe") || strings.Contains(line, "estimate fell") || strings.Contains(line, "layer cap") ||
			strings.Contains(line, "retransmission") {
			b.WriteString(line + "\n")
		}
	}
	t.Logf("the server's congestion control:\n%s", b.String())
}

// buildRoomsd builds the roomsd binary once per test binary.
var buildOnce = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "roomsd-links")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "roomsd")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/roomsd/roomsd/cmd/roomsd")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v: %s", err, out)
	}
	return bin, nil
})

var listening = regexp.MustCompile(`msg="roomsd listening".*?\burl=(\S+)`)

// startServer runs roomsd on the lab's server address (HTTP on a free
// port there, media on a free UDP port of every address).
func (l *lab) startServer(env ...string) *server {
	l.t.Helper()
	bin, err := buildOnce()
	if err != nil {
		l.t.Fatal(err)
	}
	dir := l.t.TempDir()
	s := &server{key: "links-key", bin: bin, client: http.DefaultClient}
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(append(os.Environ(), "ROOMSD_ADDR="+l.server+":0", "ROOMSD_DB="+filepath.Join(dir, "roomsd.db"),
		"ROOMSD_API_KEYS="+s.key, "ROOMSD_RTC_UDP_PORT=0", "ROOMSD_RTC_LOOPBACK=off", "ROOMSD_LOG_LEVEL=debug"), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		l.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(func() {
		if l.t.Failed() {
			s.dumpMedia(l.t)
		}
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
	})
	found := make(chan string, 1)
	logMu := &s.logMu
	log := &s.log
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logMu.Lock()
			log.WriteString(sc.Text() + "\n")
			logMu.Unlock()
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	}()
	select {
	case u := <-found:
		s.url = strings.TrimSuffix(u, "/v2")
	case <-time.After(30 * time.Second):
		logMu.Lock()
		defer logMu.Unlock()
		l.t.Fatalf("roomsd did not report its URL; its log:\n%s", log.String())
	}
	return s
}

// room creates a room.
func (s *server) room(t *testing.T) string {
	t.Helper()
	req, _ := http.NewRequest("POST", s.url+"/v2/rooms", strings.NewReader(`{"max_participants":10}`))
	req.Header.Set("Authorization", "Bearer "+s.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Data struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 201 {
		t.Fatalf("create room: %d %v", resp.StatusCode, err)
	}
	return out.Data.ID
}

// botRun is a `roomsd bot` running in a namespace.
type botRun struct {
	name   string
	cmd    *exec.Cmd
	out    bytes.Buffer
	errb   testutil.SyncBuffer // read while the bot writes
	done   chan struct{}
	report *bot.Report
}

// bot starts `roomsd bot` in h's namespace with the given flags.
func (s *server) bot(t *testing.T, h *host, name, room string, args ...string) *botRun {
	t.Helper()
	full := append([]string{"netns", "exec", h.ns, "env", "SSL_CERT_FILE=" + s.caFile, s.bin, "bot", "--server", s.url, "--api-key", s.key, "--room", room,
		"--context", name, "--progress", "0", "--connect-timeout", "30s"}, args...)
	b := &botRun{name: name, cmd: exec.Command("ip", full...), done: make(chan struct{})}
	b.cmd.Stdout, b.cmd.Stderr = &b.out, &b.errb
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { b.cmd.Wait(); close(b.done) }()
	t.Cleanup(func() {
		select {
		case <-b.done:
		default:
			syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
			<-b.done
		}
	})
	return b
}

// wait waits for the bot to finish (at most limit) and reads its report.
func (b *botRun) wait(t *testing.T, limit time.Duration) *bot.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	select {
	case <-b.done:
	case <-ctx.Done():
		syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
		<-b.done
		t.Fatalf("bot %s did not finish within %v; stderr:\n%s", b.name, limit, b.errb.String())
	}
	var r bot.Report
	if err := json.Unmarshal(b.out.Bytes(), &r); err != nil {
		t.Fatalf("bot %s: no report (%v); stderr:\n%s", b.name, err, b.errb.String())
	}
	b.report = &r
	return &r
}

// waitStderr waits until the bot has written text to stderr (a progress
// line, say), at most limit.
func (b *botRun) waitStderr(t *testing.T, text string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !strings.Contains(b.errb.String(), text) {
		select {
		case <-b.done:
			t.Fatalf("bot %s ended before writing %q; stderr:\n%s", b.name, text, b.errb.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("bot %s did not write %q within %v; stderr:\n%s", b.name, text, limit, b.errb.String())
		}
	}
}

// stop ends a bot early (SIGINT: it reports and leaves).
func (b *botRun) stop(t *testing.T) *bot.Report {
	t.Helper()
	b.cmd.Process.Signal(syscall.SIGINT)
	return b.wait(t, 30*time.Second)
}

// received returns what a bot's only participant received of kind from
// the participant from.
func received(t *testing.T, r *bot.Report, from, kind string) bot.Counts {
	t.Helper()
	if len(r.Participants) != 1 {
		t.Fatalf("report of %d participants", len(r.Participants))
	}
	return r.Participants[0].Received[from][kind]
}

// mediaPaths is the server's count of connected participants whose media
// goes over transport (udp or tcp), from its metrics.
func (s *server) mediaPaths(t *testing.T, transport string) float64 {
	t.Helper()
	return s.metric(t, "roomsd_media_connections", `transport="`+transport+`"`)
}

// startHTTPSServer runs roomsd with HTTPS, on a certificate for the
// server's address signed by a CA of the test's own (which the bots and
// the test's requests trust), and the settings in env.
func (l *lab) startHTTPSServer(env ...string) *server {
	l.t.Helper()
	dir := l.t.TempDir()
	ca := testutil.NewCA(l.t)
	certFile, keyFile, caFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), filepath.Join(dir, "ca.pem")
	ca.Issue(l.t, 2, certFile, keyFile, net.ParseIP(l.server))
	ca.WriteCA(l.t, caFile)
	s := l.startServer(append([]string{"ROOMSD_TLS_CERT=" + certFile, "ROOMSD_TLS_KEY=" + keyFile}, env...)...)
	s.caFile = caFile
	s.client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool}}}
	return s
}

// only lets the host reach the server on these TCP ports and nothing
// else (no UDP at all): a network that allows web traffic alone.
func (h *host) only(server string, tcpPorts ...int) {
	h.l.t.Helper()
	ipt := func(args ...string) { h.l.run("ip", append([]string{"netns", "exec", h.ns, "iptables"}, args...)...) }
	ipt("-A", "INPUT", "-i", "lo", "-j", "ACCEPT")
	ipt("-A", "INPUT", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT")
	ipt("-P", "INPUT", "DROP")
	ipt("-A", "OUTPUT", "-o", "lo", "-j", "ACCEPT")
	for _, p := range tcpPorts {
		ipt("-A", "OUTPUT", "-p", "tcp", "-d", server, "--dport", strconv.Itoa(p), "-j", "ACCEPT")
	}
	ipt("-P", "OUTPUT", "DROP")
}

// metric sums the server's series of name whose labels contain match.
func (s *server) metric(t *testing.T, name, match string) float64 {
	t.Helper()
	resp, err := s.client.Get(s.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var n float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, name+"{") && strings.Contains(line, match) {
			var v float64
			fmt.Sscanf(line[strings.LastIndex(line, " ")+1:], "%g", &v)
			n += v
		}
	}
	return n
}

// freeTCPPort is a TCP port free on every address when asked.
func freeTCPPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
