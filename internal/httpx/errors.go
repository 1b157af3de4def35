// Package httpx holds what every HTTP response of roomsd shares, whichever
// handler made it: the Telnyx error envelope, a guard that turns any error
// answer that is not already JSON into that envelope, refuses paths that
// are not in canonical form and sets the headers every response carries,
// and a listener that does the same for the answers net/http writes by
// itself before any handler runs (malformed requests, oversized headers).
package httpx

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
)

// Error codes of the envelope written here. They are strings on the wire.
const (
	CodeNotFound   = "10005"
	CodeAuthFailed = "10009"
	CodeUnexpected = "10007"
	CodeBadRequest = "10015"
)

// Source names where an error lies: a body field by JSON pointer, or a
// query or path parameter by name.
type Source struct {
	Pointer   string `json:"pointer,omitempty"`
	Parameter string `json:"parameter,omitempty"`
}

// Error is one entry of the Telnyx error envelope, with the HTTP status it
// is answered with.
type Error struct {
	Status int     `json:"-"`
	Code   string  `json:"code"`
	Title  string  `json:"title"`
	Detail string  `json:"detail,omitempty"`
	Source *Source `json:"source,omitempty"`
}

func (e *Error) Error() string { return e.Title + ": " + e.Detail }

// Envelope is the body of every error answer: {"errors":[...]}.
type Envelope struct {
	Errors []*Error `json:"errors"`
}

// Marshal encodes the envelope holding e, with a final newline, as the
// API writes its own answers (no HTML escaping).
func (e *Error) Marshal() []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(Envelope{Errors: []*Error{e}}); err != nil {
		// Strings and ints always encode.
		panic("httpx: encode error envelope: " + err.Error())
	}
	return b.Bytes()
}

// WriteError answers with e in the envelope, as JSON.
func WriteError(w http.ResponseWriter, e *Error) {
	body := e.Marshal()
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.Status)
	w.Write(body)
}

// ForStatus is the envelope entry for an error answer that carried no
// JSON of its own: a code, the status text as title, and a detail in plain
// words that says what to do.
func ForStatus(status int) *Error {
	code := CodeBadRequest
	switch status {
	case http.StatusNotFound:
		code = CodeNotFound
	case http.StatusInternalServerError:
		code = CodeUnexpected
	}
	title := http.StatusText(status)
	if title == "" {
		title = "Error " + strconv.Itoa(status)
	}
	return &Error{Status: status, Code: code, Title: title, Detail: detailFor(status)}
}

func detailFor(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "The request is not valid HTTP/1.1; check the request line and headers."
	case http.StatusNotFound:
		return "No such resource; the API lives under /v2."
	case http.StatusMethodNotAllowed:
		return "This method is not supported on this path."
	case http.StatusRequestEntityTooLarge:
		return "The request is too large."
	case http.StatusExpectationFailed:
		return "The only Expect value roomsd honours is 100-continue."
	case http.StatusRequestHeaderFieldsTooLarge:
		return "The request headers are too large; roomsd accepts at most " + strconv.Itoa(MaxHeaderBytes>>10) + " KiB of headers."
	case http.StatusNotImplemented:
		return "roomsd does not support this request's transfer encoding; send a plain or chunked body."
	case http.StatusHTTPVersionNotSupported:
		return "roomsd speaks HTTP/1.1 (and HTTP/1.0)."
	case http.StatusRequestedRangeNotSatisfiable:
		return "The requested range lies outside the resource."
	case http.StatusUpgradeRequired:
		return "This path needs a protocol upgrade."
	case http.StatusInternalServerError:
		return "The server could not complete the request."
	}
	if status >= 500 {
		return "The server could not complete the request; try again."
	}
	return "The request could not be served."
}
