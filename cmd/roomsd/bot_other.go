//go:build !unix

package main

// notifySnapshot: there is no SIGUSR1 here, so no snapshots.
func notifySnapshot(chan<- struct{}) func() { return func() {} }
