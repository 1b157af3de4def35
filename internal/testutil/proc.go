package testutil

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// RoomsdBinary builds ./cmd/roomsd once per test process and returns its
// path. Call RemoveBinary from TestMain when the tests are done.
func RoomsdBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		binDir, buildErr = os.MkdirTemp("", "roomsd-test-bin-")
		if buildErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(binDir, "roomsd"), "./cmd/roomsd")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/roomsd: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, "roomsd")
}

// RemoveBinary deletes what RoomsdBinary built.
func RemoveBinary() {
	if binDir != "" {
		os.RemoveAll(binDir)
	}
}

// Process is one running roomsd serve.
type Process struct {
	Cmd     *exec.Cmd
	BaseURL string // http://127.0.0.1:PORT/v2
	Root    string // http://127.0.0.1:PORT
	Stderr  *SyncBuffer
	// APIKey is the first of ROOMSD_API_KEYS, which Call sends.
	APIKey  string
	exited  chan struct{}
	waitErr error
}

var listening = regexp.MustCompile(`msg="roomsd listening".*?\burl=(\S+)`)

// StartRoomsd runs roomsd serve with env added to a minimal environment
// and returns once it logs its URL; the process is killed when the test
// ends, and its log shown if the test failed.
func StartRoomsd(t testing.TB, env map[string]string) *Process {
	t.Helper()
	cmd := exec.Command(RoomsdBinary(t), "serve")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	key, _, _ := strings.Cut(env["ROOMSD_API_KEYS"], ",")
	s := &Process{Cmd: cmd, Stderr: &SyncBuffer{}, exited: make(chan struct{}), APIKey: key}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	found := make(chan string, 1)
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(pipe)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			s.Stderr.Write([]byte(line + "\n"))
			if m := listening.FindStringSubmatch(line); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
		io.Copy(s.Stderr, pipe)
	}()
	go func() {
		<-copied // Wait closes the pipe; read it to the end first
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-s.exited:
		default:
			cmd.Process.Kill()
			<-s.exited
		}
		if t.Failed() {
			t.Logf("roomsd (pid %d) stderr:\n%s", cmd.Process.Pid, s.Stderr)
		}
	})
	select {
	case u := <-found:
		s.BaseURL = u
		s.Root = strings.TrimSuffix(u, "/v2")
	case <-s.exited:
		t.Fatalf("roomsd exited before listening (%v):\n%s", s.waitErr, s.Stderr)
	case <-time.After(60 * time.Second):
		t.Fatalf("roomsd did not report its URL within 60 s:\n%s", s.Stderr)
	}
	return s
}

// Exited is closed once the process has exited.
func (s *Process) Exited() <-chan struct{} { return s.exited }

// Kill sends SIGKILL and waits for the process to be gone.
func (s *Process) Kill(t testing.TB) {
	t.Helper()
	if err := s.Cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("roomsd still running 10 s after SIGKILL")
	}
	if ws, ok := s.Cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("roomsd did not die of SIGKILL: %v", s.Cmd.ProcessState)
	}
}

// Terminate sends SIGTERM and returns the exit code.
func (s *Process) Terminate(t testing.TB) int {
	t.Helper()
	if err := s.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.exited:
	case <-time.After(20 * time.Second):
		t.Fatal("roomsd still running 20 s after SIGTERM")
	}
	return s.Cmd.ProcessState.ExitCode()
}

// Do makes an API request with the API key and returns the status and the
// raw answer.
func (s *Process) Do(t testing.TB, method, path string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.Root+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.APIKey)
	req.Header.Set("Content-Type", "application/json")
	client := &http.Client{Timeout: 15 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

// Call makes an API request that must succeed (2xx) and decodes its JSON
// answer into out (unless nil).
func (s *Process) Call(t testing.TB, method, path string, body, out any) {
	t.Helper()
	status, raw := s.Do(t, method, path, body)
	if status/100 != 2 {
		t.Fatalf("%s %s: %d %s", method, path, status, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, raw)
		}
	}
}
