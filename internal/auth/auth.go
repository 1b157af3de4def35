// Package auth checks REST API keys. Keys are never kept in clear: the
// keyring holds SHA-256 hashes and compares them in constant time.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
)

// KeyPrefix starts every key roomsd generates, so a leaked one is easy to
// recognise in logs or code.
const KeyPrefix = "rsk_"

// Keyring is a fixed set of accepted API keys.
type Keyring struct {
	hashes [][sha256.Size]byte
}

// Hash returns the SHA-256 of a key, the form in which keys are stored.
func Hash(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}

// NewKeyring builds a keyring from clear keys and stored hashes.
func NewKeyring(keys []string, hashes [][]byte) *Keyring {
	k := &Keyring{}
	for _, key := range keys {
		k.hashes = append(k.hashes, sha256.Sum256([]byte(key)))
	}
	for _, h := range hashes {
		var a [sha256.Size]byte
		if copy(a[:], h) == sha256.Size {
			k.hashes = append(k.hashes, a)
		}
	}
	return k
}

// Len is the number of accepted keys.
func (k *Keyring) Len() int { return len(k.hashes) }

// Valid reports whether key is accepted. It compares against every stored
// hash without stopping early, so timing reveals neither key nor position.
func (k *Keyring) Valid(key string) bool {
	if key == "" {
		return false
	}
	h := sha256.Sum256([]byte(key))
	ok := 0
	for i := range k.hashes {
		ok |= subtle.ConstantTimeCompare(h[:], k.hashes[i][:])
	}
	return ok == 1
}

// NewKey returns a fresh random API key with 256 bits of entropy.
func NewKey() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return KeyPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}
