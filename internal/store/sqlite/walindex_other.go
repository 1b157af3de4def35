//go:build !unix

package sqlite

import (
	"errors"
	"os"
)

// walIndex is not mapped on this platform; the list cache asks
// PRAGMA data_version instead.
type walIndex struct{}

var errNoMapping = errors.New("wal-index mapping needs a unix system")

func openSHM(string) (*os.File, error) { return nil, errNoMapping }

func mapWALIndex(*os.File) (*walIndex, error) { return nil, errNoMapping }

func (*walIndex) version() (dbVersion, bool) { return dbVersion{}, false }

func (*walIndex) unmap() error { return nil }
