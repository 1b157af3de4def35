// Package testutil holds helpers shared by tests of several packages.
//
// It imports internal/app and its SQLite store (for StartApp and
// OpenStore), so of the packages app depends on only their external test
// packages (package x_test) may import it; an in-package test of one of
// them would make an import cycle.
package testutil

import (
	"bytes"
	"sync"
	"testing"
	"time"
)

// Eventually polls cond every 10 ms until it holds, and fails the test if
// it does not within the deadline: a wait on a condition, never a fixed
// sleep.
func Eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// SyncBuffer is a bytes.Buffer safe for one goroutine writing (a logger,
// a child's stderr) while another reads.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
