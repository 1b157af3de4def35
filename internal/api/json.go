package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/roomsd/roomsd/internal/rooms"
	"github.com/roomsd/roomsd/internal/store"
)

// maxBodyBytes bounds every request body.
const maxBodyBytes = 64 << 10

// timestampLayout prints times as RFC 3339 in UTC with exactly six
// fractional digits, e.g. 2021-04-16T09:46:20.954863Z. Timestamps go into
// the JSON shapes as ready strings, which encoding/json writes fastest.
const timestampLayout = "2006-01-02T15:04:05.000000Z"

// ts formats t in timestampLayout. It writes the fixed layout digit by
// digit: on the list path it runs twice per room per request, and
// time.Format's general layout interpreter was a fifth of a cached list
// request. TestTimestampMatchesFormat holds it to time.Format.
func ts(t time.Time) string {
	t = t.UTC()
	year, month, day := t.Date()
	hour, minute, sec := t.Clock()
	var b [len(timestampLayout)]byte
	put := func(at, width, v int) {
		for i := at + width - 1; i >= at; i-- {
			b[i] = byte('0' + v%10)
			v /= 10
		}
	}
	if year < 0 || year > 9999 {
		return t.Format(timestampLayout)
	}
	put(0, 4, year)
	b[4] = '-'
	put(5, 2, int(month))
	b[7] = '-'
	put(8, 2, day)
	b[10] = 'T'
	put(11, 2, hour)
	b[13] = ':'
	put(14, 2, minute)
	b[16] = ':'
	put(17, 2, sec)
	b[19] = '.'
	put(20, 6, t.Nanosecond()/1000)
	b[26] = 'Z'
	return string(b[:])
}

func tsPtr(t *time.Time) *string {
	if t == nil {
		return nil
	}
	v := ts(*t)
	return &v
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Our own types always encode; reaching here is a programming error.
		http.Error(w, `{"errors":[{"code":"10007","title":"Unexpected error"}]}`, http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// readObject reads a JSON object body into its top-level fields. An empty
// body is an empty object. Wrong media type, size, syntax or shape are
// errors the client can fix, reported as such.
func readObject(w http.ResponseWriter, r *http.Request) (map[string]json.RawMessage, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, newError(http.StatusRequestEntityTooLarge, codeBadRequest, "Request body too large",
				fmt.Sprintf("The request body must be at most %d bytes.", maxBodyBytes))
		}
		return nil, newError(http.StatusBadRequest, codeBadRequest, "Bad request", "The request body could not be read.")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return map[string]json.RawMessage{}, nil
	}
	if ct := r.Header.Get("Content-Type"); !isJSON(ct) {
		return nil, newError(http.StatusUnsupportedMediaType, codeMediaType, "Unsupported media type",
			fmt.Sprintf("Send the body as JSON with Content-Type: application/json (got %q).", ct))
	}
	if !json.Valid(body) {
		return nil, newError(http.StatusBadRequest, codeInvalidJSON, "Invalid JSON", "The request body is not valid JSON.")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil || obj == nil {
		return nil, newError(http.StatusBadRequest, codeBadRequest, "Bad request", "The request body must be a JSON object.")
	}
	return obj, nil
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

func typeError(field, want string) error {
	return fieldError(codeBadRequest, "Invalid type", field, field+" must be "+want+".")
}

// The field decoders below give each body field its own type error.

func optInt(obj map[string]json.RawMessage, field string, dst *rooms.Opt[int]) error {
	raw, ok := obj[field]
	if !ok {
		return nil
	}
	var v int
	if isNull(raw) || json.Unmarshal(raw, &v) != nil {
		return typeError(field, "an integer")
	}
	*dst = rooms.Some(v)
	return nil
}

func optNullInt(obj map[string]json.RawMessage, field string, dst *rooms.Opt[*int]) error {
	raw, ok := obj[field]
	if !ok {
		return nil
	}
	if isNull(raw) {
		*dst = rooms.Some[*int](nil)
		return nil
	}
	var v int
	if json.Unmarshal(raw, &v) != nil {
		return typeError(field, "an integer or null")
	}
	*dst = rooms.Some(&v)
	return nil
}

func optBool(obj map[string]json.RawMessage, field string, dst *rooms.Opt[bool]) error {
	raw, ok := obj[field]
	if !ok {
		return nil
	}
	var v bool
	if isNull(raw) || json.Unmarshal(raw, &v) != nil {
		return typeError(field, "true or false")
	}
	*dst = rooms.Some(v)
	return nil
}

func optNullString(obj map[string]json.RawMessage, field string, dst *rooms.Opt[*string]) error {
	raw, ok := obj[field]
	if !ok {
		return nil
	}
	if isNull(raw) {
		*dst = rooms.Some[*string](nil)
		return nil
	}
	var v string
	if json.Unmarshal(raw, &v) != nil {
		return typeError(field, "a string or null")
	}
	*dst = rooms.Some(&v)
	return nil
}

// writeList answers a list request: each item in its wire shape, and the
// page's meta.
func writeList[T, J any](w http.ResponseWriter, p store.Page, total int, items []T, encode func(T) J) {
	data := make([]J, len(items))
	for i, it := range items {
		data[i] = encode(it)
	}
	writeJSON(w, http.StatusOK, listBody{Data: data, Meta: newPageMeta(p, total)})
}
