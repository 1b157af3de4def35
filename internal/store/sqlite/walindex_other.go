//go:build !unix

package sqlite

import "errors"

// walIndex is not mapped on this platform; the list cache asks
// PRAGMA data_version instead.
type walIndex struct{}

func openWALIndex(string) (*walIndex, error) {
	return nil, errors.New("wal-index mapping needs a unix system")
}

func (*walIndex) version() (dbVersion, bool) { return dbVersion{}, false }

func (*walIndex) close() error { return nil }
