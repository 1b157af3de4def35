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
	"sync"
	"time"

	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/httpx"
	"github.com/roomsd/roomsd/internal/rooms"
	"github.com/roomsd/roomsd/internal/store"
)

// maxBodyBytes bounds every request body.
const maxBodyBytes = 64 << 10

// timestampLayout prints times as RFC 3339 in UTC with exactly six
// fractional digits, e.g. 2021-04-16T09:46:20.954863Z. Timestamps go into
// the JSON shapes as ready strings, which encoding/json writes fastest.
const timestampLayout = "2006-01-02T15:04:05.000000Z"

// ts formats t in timestampLayout. It computes the civil date from the
// Unix day number and writes the fixed layout digit by digit: on the list
// path it runs twice per room per request, where time.Format's general
// layout interpreter was a fifth of a cached request. Times before 1970
// or after 9999 take time.Format. TestTimestampMatchesFormat holds it to
// time.Format.
func ts(t time.Time) string {
	us := t.UnixMicro()
	if us < 0 || us >= maxTimestampMicros {
		return t.UTC().Format(timestampLayout)
	}
	secs, micros := us/1e6, us%1e6
	days, sod := secs/86400, secs%86400
	// Civil date from days since 1970-01-01 (H. Hinnant's algorithm, for
	// the proleptic Gregorian calendar with years starting in March).
	z := days + 719468
	era := z / 146097
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	day := doy - (153*mp+2)/5 + 1
	month := mp + 3
	if mp >= 10 {
		month = mp - 9
	}
	year := yoe + era*400
	if month <= 2 {
		year++
	}
	var b [len(timestampLayout)]byte
	two := func(at int, v int64) {
		b[at], b[at+1] = byte('0'+v/10), byte('0'+v%10)
	}
	two(0, year/100)
	two(2, year%100)
	b[4] = '-'
	two(5, month)
	b[7] = '-'
	two(8, day)
	b[10] = 'T'
	two(11, sod/3600)
	b[13] = ':'
	two(14, sod/60%60)
	b[16] = ':'
	two(17, sod%60)
	b[19] = '.'
	two(20, micros/10000)
	two(22, micros/100%100)
	two(24, micros%100)
	b[26] = 'Z'
	return string(b[:])
}

// maxTimestampMicros is 10000-01-01T00:00:00Z in Unix microseconds: ts
// writes four-digit years only.
const maxTimestampMicros = 253402300800 * 1e6

func tsPtr(t *time.Time) *string {
	if t == nil {
		return nil
	}
	v := ts(*t)
	return &v
}

// bufferPool holds response buffers between requests, so that encoding a
// page does not grow a fresh buffer from empty every time.
var bufferPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBuffer keeps the rare very large response's buffer out of the
// pool.
const maxPooledBuffer = 1 << 20

func writeJSON(w http.ResponseWriter, status int, v any) {
	buf := bufferPool.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= maxPooledBuffer {
			buf.Reset()
			bufferPool.Put(buf)
		}
	}()
	enc := json.NewEncoder(buf)
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
// body is an empty object. Wrong media type or charset, size, syntax or
// shape are errors the client can fix, reported as such; so are text that
// is not valid UTF-8 (or holds a NUL) and a field given twice, which
// encoding/json would otherwise store with replacement characters or
// resolve silently to its last value.
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
	if err := checkContentType(r.Header.Get("Content-Type")); err != nil {
		return nil, err
	}
	return decodeObject(body)
}

// checkContentType accepts JSON media types in UTF-8, the only encoding
// JSON has (RFC 8259); a charset parameter, if any, must say so.
func checkContentType(ct string) error {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || !httpx.JSONMediaType(mt) {
		return newError(http.StatusUnsupportedMediaType, codeMediaType, "Unsupported media type",
			fmt.Sprintf("Send the body as JSON with Content-Type: application/json (got %s).", httpx.Quote(httpx.Printable(ct))))
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
		return newError(http.StatusUnsupportedMediaType, codeMediaType, "Unsupported media type",
			fmt.Sprintf("Send the body as UTF-8 JSON; charset=%s is not supported.", httpx.Quote(httpx.Printable(cs))))
	}
	return nil
}

// decodeObject splits a JSON object into its top-level fields, refusing
// invalid JSON (400), a body that is not an object (400), text that is not
// valid UTF-8 or holds a NUL (422 naming the field) and a field given
// twice (422 naming it).
func decodeObject(body []byte) (map[string]json.RawMessage, error) {
	if !json.Valid(body) {
		return nil, newError(http.StatusBadRequest, codeInvalidJSON, "Invalid JSON", "The request body is not valid JSON.")
	}
	notObject := newError(http.StatusBadRequest, codeBadRequest, "Bad request", "The request body must be a JSON object.")
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, notObject
	}
	bad := httpx.JSONTextProblem(body)
	obj := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		key, ok := tok.(string)
		if err != nil || !ok {
			return nil, notObject
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, notObject
		}
		if bad != "" {
			if p := httpx.JSONTextProblem(raw); p != "" {
				return nil, fieldError(codeBadRequest, "Invalid text", domain.PathStep(key), key+" "+p+".")
			}
			continue
		}
		if _, dup := obj[key]; dup {
			return nil, fieldError(codeBadRequest, "Duplicate field", domain.PathStep(key), key+" is given more than once; give it once.")
		}
		obj[key] = raw
	}
	if bad != "" {
		// No value holds the fault, so a field name does.
		return nil, newError(http.StatusUnprocessableEntity, codeBadRequest, "Invalid text", "A field name "+bad+".")
	}
	return obj, nil
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

func typeError(field, want string) error {
	return fieldError(codeBadRequest, "Invalid type", field, field+" must be "+want+".")
}

// The field decoders below give each body field its own type error.

func optInt(obj map[string]json.RawMessage, field string, dst *rooms.Opt[int]) error {
	return optValue(obj, field, "an integer", dst)
}

func optBool(obj map[string]json.RawMessage, field string, dst *rooms.Opt[bool]) error {
	return optValue(obj, field, "true or false", dst)
}

func optNullInt(obj map[string]json.RawMessage, field string, dst *rooms.Opt[*int]) error {
	return optNullable(obj, field, "an integer or null", dst)
}

func optNullString(obj map[string]json.RawMessage, field string, dst *rooms.Opt[*string]) error {
	return optNullable(obj, field, "a string or null", dst)
}

// optValue decodes a field that may be absent but not null.
func optValue[T any](obj map[string]json.RawMessage, field, want string, dst *rooms.Opt[T]) error {
	raw, ok := obj[field]
	if !ok {
		return nil
	}
	var v T
	if isNull(raw) || json.Unmarshal(raw, &v) != nil {
		return typeError(field, want)
	}
	*dst = rooms.Some(v)
	return nil
}

// optNullable decodes a field that may be absent or null; null sets nil.
func optNullable[T any](obj map[string]json.RawMessage, field, want string, dst *rooms.Opt[*T]) error {
	raw, ok := obj[field]
	if !ok {
		return nil
	}
	if isNull(raw) {
		*dst = rooms.Some[*T](nil)
		return nil
	}
	var v T
	if json.Unmarshal(raw, &v) != nil {
		return typeError(field, want)
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

// requiredString reads a body field that must be a non-empty string;
// missing, null or empty is a 422 naming it, with what the detail says.
func requiredString(obj map[string]json.RawMessage, field, detail string) (string, error) {
	var v rooms.Opt[*string]
	if err := optNullString(obj, field, &v); err != nil {
		return "", err
	}
	if !v.Set || v.Value == nil || *v.Value == "" {
		return "", fieldError(codeMissingParameter, "Missing required parameter", field, detail)
	}
	return *v.Value, nil
}
