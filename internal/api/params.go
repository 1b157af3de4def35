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

// query reads a request's query parameters. It keeps the first malformed
// parameter's error in err and returns zero values for that one, so a
// handler reads every parameter it takes, in order, and checks err once.
type query struct {
	values url.Values
	err    error
}

func newQuery(r *http.Request) *query { return &query{values: r.URL.Query()} }

// fail records err unless an earlier parameter already failed.
func (q *query) fail(err error) {
	if q.err == nil {
		q.err = err
	}
}

// value returns the last value of a repeated parameter. The SDK's
// auto-pager appends page[number] to a query that may already carry one, so
// the last occurrence is the one the caller means.
func (q *query) value(name string) string {
	vs := q.values[name]
	if len(vs) == 0 {
		return ""
	}
	return vs[len(vs)-1]
}

func (q *query) bool(name string) bool {
	switch v := q.value(name); strings.ToLower(v) {
	case "", "false":
		return false
	case "true":
		return true
	default:
		q.fail(paramError(name, fmt.Sprintf("%s must be true or false, got %q.", name, v)))
		return false
	}
}

// optBool reads an optional true/false parameter; nil when absent.
func (q *query) optBool(name string) *bool {
	if q.value(name) == "" {
		return nil
	}
	v := q.bool(name)
	return &v
}

// optString reads an optional exact-match parameter; nil when absent.
func (q *query) optString(name string) *string {
	if !q.values.Has(name) {
		return nil
	}
	v := q.value(name)
	return &v
}

// id reads an optional UUID parameter; nil when absent.
func (q *query) id(name string) *string {
	v := q.value(name)
	if v == "" {
		return nil
	}
	id, err := canonicalID(v)
	if err != nil {
		q.fail(paramError(name, fmt.Sprintf("%s must be a UUID, got %q.", name, v)))
		return nil
	}
	return &id
}

// enum reads an optional parameter that must be one of allowed.
func (q *query) enum(name string, allowed ...string) *string {
	v := q.value(name)
	if v == "" {
		return nil
	}
	if !slices.Contains(allowed, v) {
		q.fail(paramError(name, fmt.Sprintf("%s must be one of %s, got %q.", name, strings.Join(allowed, ", "), v)))
		return nil
	}
	return &v
}

func (q *query) int(name string, def, lo, hi int) int {
	v := q.value(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		q.fail(paramError(name, fmt.Sprintf("%s must be an integer from %d to %d, got %q.", name, lo, hi, v)))
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

// dateRange reads filter[<field>][eq|gte|lte] as whole UTC days:
// eq is that day, gte from the start of that day, lte to the end of it.
// Several bounds combine into their intersection.
func (q *query) dateRange(field string) store.TimeRange {
	var r store.TimeRange
	for _, op := range []string{"eq", "gte", "lte"} {
		name := "filter[" + field + "][" + op + "]"
		v := q.value(name)
		if v == "" {
			continue
		}
		day, err := time.Parse(time.DateOnly, v)
		if err != nil {
			q.fail(paramError(name, fmt.Sprintf("%s must be a date as YYYY-MM-DD, got %q.", name, v)))
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
		v := q.value(name)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			q.fail(paramError(name, fmt.Sprintf("%s must be a whole number of seconds, got %q.", name, v)))
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
