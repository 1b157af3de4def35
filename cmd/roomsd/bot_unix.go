//go:build unix

package main

import (
	"os"
	"os/signal"
	"syscall"
)

// notifySnapshot sends on ch at each SIGUSR1 until the returned function
// is called.
func notifySnapshot(ch chan<- struct{}) func() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-sig:
				select {
				case ch <- struct{}{}:
				default:
				}
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(sig)
		close(done)
	}
}
