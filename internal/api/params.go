package api

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/roomsd/roomsd/internal/httpx"
	"github.com/roomsd/roomsd/internal/store"
)

// Paging limits shared by every list endpoint.
const (
	defaultPageSize = 20
	maxPageSize     = 250
	maxPageNumber   = 1 << 31
)

// canonicalID accepts a UUID in its 36-character form, any case, and
// returns it in lower case.
func canonicalID(raw string) (string, error) {
	if len(raw) == 36 {
		if u, err := uuid.Parse(raw); err == nil {
			return u.String(), nil
		}
	}
	return "", fmt.Errorf("%q is not a UUID", raw)
}

// pathID reads a UUID path parameter.
func pathID(raw, name string) (string, error) {
	if id, err := canonicalID(raw); err == nil {
		return id, nil
	}
	e := newError(400, codeInvalidID, "Invalid ID", fmt.Sprintf("%s must be a UUID such as 0ccc7b54-4df3-4bca-a65a-3da1ecc777f0, got %q.", name, raw))
	e.Source = &errorSource{Parameter: name}
	return "", e
}

// query reads a request's query parameters, parsed strictly by
// withQuery. It keeps the first malformed parameter's error in err and
// returns zero values for that one, so a handler reads every parameter it
// takes, in order, and checks err once. It remembers the names it was
// asked for, so that done can refuse the filter and page parameters the
// endpoint does not take.
type query struct {
	values url.Values
	err    error
	asked  []string // nil when the request has no parameters to check
}

// newQuery reads the parameters withQuery parsed; a request without a
// query has none.
func newQuery(r *http.Request) *query {
	q := &query{}
	q.values, _ = r.Context().Value(queryKey).(url.Values)
	if len(q.values) > 0 {
		q.asked = make([]string, 0, 32)
	}
	return q
}

// fail records err unless an earlier parameter already failed.
func (q *query) fail(err error) {
	if q.err == nil {
		q.err = err
	}
}

// lookup returns a parameter's value and whether it was given. A
// parameter given several times must carry one value, except page[number]
// and page[size], which take their last: the SDK's auto-pager appends
// page[number] to a query that may already carry one.
func (q *query) lookup(name string) (string, bool) {
	if q.asked != nil {
		q.asked = append(q.asked, name)
	}
	vs := q.values[name]
	switch {
	case len(vs) == 0:
		return "", false
	case len(vs) == 1 || strings.HasPrefix(name, "page["):
		return vs[len(vs)-1], true
	}
	for _, v := range vs[1:] {
		if v != vs[0] {
			q.fail(paramError(name, fmt.Sprintf("%s is given more than once with different values (%s and %s); give it once.",
				name, httpx.Quote(vs[0]), httpx.Quote(v))))
			return "", false
		}
	}
	return vs[0], true
}

// typed looks up a parameter whose value must not be empty: an empty
// value is refused rather than read as absent, so that a filter is never
// dropped without a word.
func (q *query) typed(name string) (string, bool) {
	v, ok := q.lookup(name)
	if ok && v == "" {
		q.fail(paramError(name, name+" is empty; give it a value or leave it out."))
		return "", false
	}
	return v, ok
}

func (q *query) bool(name string) bool {
	v, ok := q.typed(name)
	if !ok {
		return false
	}
	switch strings.ToLower(v) {
	case "false":
		return false
	case "true":
		return true
	default:
		q.fail(paramError(name, fmt.Sprintf("%s must be true or false, got %s.", name, httpx.Quote(v))))
		return false
	}
}

// optBool reads an optional true/false parameter; nil when absent.
func (q *query) optBool(name string) *bool {
	if _, ok := q.typed(name); !ok {
		return nil
	}
	v := q.bool(name)
	return &v
}

// optString reads an optional exact-match parameter; nil when absent. An
// empty value matches the empty string.
func (q *query) optString(name string) *string {
	v, ok := q.lookup(name)
	if !ok {
		return nil
	}
	return &v
}

// id reads an optional UUID parameter; nil when absent.
func (q *query) id(name string) *string {
	v, ok := q.typed(name)
	if !ok {
		return nil
	}
	id, err := canonicalID(v)
	if err != nil {
		q.fail(paramError(name, fmt.Sprintf("%s must be a UUID such as 0ccc7b54-4df3-4bca-a65a-3da1ecc777f0, got %s.", name, httpx.Quote(v))))
		return nil
	}
	return &id
}

// enum reads an optional parameter that must be one of allowed.
func (q *query) enum(name string, allowed ...string) *string {
	v, ok := q.typed(name)
	if !ok {
		return nil
	}
	if !slices.Contains(allowed, v) {
		q.fail(paramError(name, fmt.Sprintf("%s must be one of %s, got %s.", name, strings.Join(allowed, ", "), httpx.Quote(v))))
		return nil
	}
	return &v
}

func (q *query) int(name string, def, lo, hi int) int {
	v, ok := q.typed(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		q.fail(paramError(name, fmt.Sprintf("%s must be an integer from %d to %d, got %s.", name, lo, hi, httpx.Quote(v))))
		return 0
	}
	return n
}

// hasPage reports whether the request names a page at all.
func (q *query) hasPage() bool { return q.values.Has("page[size]") || q.values.Has("page[number]") }

func (q *query) page() store.Page {
	size := q.int("page[size]", defaultPageSize, 1, maxPageSize)
	num := q.int("page[number]", 1, 1, maxPageNumber)
	return store.Page{Number: num, Size: size}
}

// done refuses filter and page parameters the endpoint did not ask for:
// a misspelt filter must not be dropped, or a list would show, and a bulk
// delete would remove, more than the client asked. Call it after reading
// every parameter the endpoint takes. Other unknown parameters are
// ignored, as the Telnyx API ignores them.
func (q *query) done() { q.refuseUnasked(isFilterOrPage) }

// strict refuses every parameter the endpoint did not ask for; the bulk
// delete uses it.
func (q *query) strict() { q.refuseUnasked(func(string) bool { return true }) }

func (q *query) refuseUnasked(covered func(string) bool) {
	if q.err != nil {
		return
	}
	var unknown []string
	for name := range q.values {
		if covered(name) && !slices.Contains(q.asked, name) {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) == 0 {
		return
	}
	slices.Sort(unknown)
	var takes []string
	for _, a := range q.asked {
		if covered(a) && !slices.Contains(takes, a) {
			takes = append(takes, a)
		}
	}
	detail := fmt.Sprintf("%s is not a parameter of this endpoint", unknown[0])
	if len(takes) > 0 {
		detail += "; it takes " + strings.Join(takes, ", ")
	} else {
		detail += "; it takes no filter or page parameters"
	}
	q.fail(paramError(unknown[0], detail+"."))
}

// isFilterOrPage reports whether a parameter name belongs to the filter
// or page families, in any case: Filter[room_id] is a misspelt filter, not
// an unrelated parameter.
func isFilterOrPage(name string) bool {
	l := strings.ToLower(name)
	return strings.HasPrefix(l, "filter") || strings.HasPrefix(l, "page")
}

// filterField is the field a filter parameter restricts: room_id for
// filter[room_id], date_started_at for filter[date_started_at][gte].
func filterField(name string) (string, bool) {
	rest, ok := strings.CutPrefix(name, "filter[")
	if !ok {
		return "", false
	}
	field, _, ok := strings.Cut(rest, "]")
	return field, ok
}

// dateRange reads filter[<field>][eq|gte|lte] as whole UTC days:
// eq is that day, gte from the start of that day, lte to the end of it.
// Several bounds combine into their intersection.
func (q *query) dateRange(field string) store.TimeRange {
	var r store.TimeRange
	for _, op := range []string{"eq", "gte", "lte"} {
		name := "filter[" + field + "][" + op + "]"
		v, ok := q.typed(name)
		if !ok {
			continue
		}
		day, err := time.Parse(time.DateOnly, v)
		if err != nil || day.Year() < 1 {
			q.fail(paramError(name, fmt.Sprintf("%s must be a date from 0001-01-01 to 9999-12-31 as YYYY-MM-DD, got %s.", name, httpx.Quote(v))))
			return store.TimeRange{}
		}
		next := day.AddDate(0, 0, 1)
		if op != "lte" && day.After(r.From) {
			r.From = day
		}
		if op != "gte" && (r.Until.IsZero() || next.Before(r.Until)) {
			r.Until = next
		}
	}
	return r
}

// intRange reads filter[<field>][eq|gte|lte] as an inclusive range of
// non-negative integers. The bare filter[<field>]=N, which the official SDK
// sends for a plain number, means "at least N", as the SDK documents it.
func (q *query) intRange(field string) store.IntRange {
	var r store.IntRange
	for _, op := range []string{"", "eq", "gte", "lte"} {
		name := "filter[" + field + "]"
		if op != "" {
			name += "[" + op + "]"
		}
		v, ok := q.typed(name)
		if !ok {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			q.fail(paramError(name, fmt.Sprintf("%s must be a whole number of seconds, got %s.", name, httpx.Quote(v))))
			return store.IntRange{}
		}
		lower, upper := op != "lte", op == "eq" || op == "lte"
		if lower && (r.Min == nil || n > *r.Min) {
			r.Min = &n
		}
		if upper && (r.Max == nil || n < *r.Max) {
			r.Max = &n
		}
	}
	return r
}

// pageMeta is the pagination block of every list response.
type pageMeta struct {
	PageNumber   int `json:"page_number"`
	PageSize     int `json:"page_size"`
	TotalPages   int `json:"total_pages"`
	TotalResults int `json:"total_results"`
}

func newPageMeta(p store.Page, total int) pageMeta {
	return pageMeta{PageNumber: p.Number, PageSize: p.Size, TotalPages: (total + p.Size - 1) / p.Size, TotalResults: total}
}
