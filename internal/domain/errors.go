package domain

import (
	"errors"
	"fmt"
)

// ErrNotFound reports that the addressed entity does not exist.
var ErrNotFound = errors.New("not found")

// ErrRoomFull reports that a join would exceed the room's max_participants.
var ErrRoomFull = errors.New("room is full")

// ErrForbidden reports a credential that does not allow the operation,
// such as an expired or forged client token.
var ErrForbidden = errors.New("forbidden")

// ErrSessionEnded reports an operation on a session that is no longer active.
var ErrSessionEnded = errors.New("session has ended")

// Kind classifies a ValidationError so transports can pick a status and code.
type Kind int

const (
	// KindInvalid is a value of the right type but outside what is allowed.
	KindInvalid Kind = iota
	// KindInvalidURL is a URL field that is not an absolute http(s) URL.
	KindInvalidURL
	// KindDuplicate is a value that must be unique and is already taken.
	KindDuplicate
	// KindRequired is a missing mandatory value.
	KindRequired
)

// ValidationError names the offending field (by its wire name) and says
// what is wrong with it in words a user can act on.
type ValidationError struct {
	Field  string
	Kind   Kind
	Detail string
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("%s: %s", e.Field, e.Detail)
}

// Invalid builds a KindInvalid error.
func Invalid(field, format string, args ...any) *ValidationError {
	return &ValidationError{Field: field, Kind: KindInvalid, Detail: fmt.Sprintf(format, args...)}
}
