package domain

import (
	"errors"
	"fmt"
	"strings"
	"time"
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

// PathStep is a name (a body field, a layout region) as one step of the
// path in ValidationError.Field, a JSON pointer without its leading "/":
// ~ becomes ~0 and / becomes ~1 (RFC 6901), so that a name holding them
// is not read as two steps.
func PathStep(name string) string { return pathEscaper.Replace(name) }

var pathEscaper = strings.NewReplacer("~", "~0", "/", "~1")

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

// ElsewhereError reports that a room's live session is served by another
// node of the cluster: a participant joins it there, at URL (the node's
// advertised base URL, http(s)://host:port).
type ElsewhereError struct {
	NodeID string
	URL    string
}

func (e *ElsewhereError) Error() string {
	return fmt.Sprintf("the room's live session is served by node %s at %s", e.NodeID, e.URL)
}

// KeptOutError reports a join refused because the participant's token
// or link was used by someone kicked from the room, until Until.
type KeptOutError struct{ Until time.Time }

func (e *KeptOutError) Error() string {
	return fmt.Sprintf("kicked from this room; the same token or link may join again from %s", e.Until.UTC().Format(time.RFC3339))
}
