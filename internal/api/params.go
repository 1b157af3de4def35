package api

import (
	"fmt"
	"net/url"
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

// queryValue returns the last value of a repeated parameter. The SDK's
// auto-pager appends page[number] to a query that may already carry one, so
// the last occurrence is the one the caller means.
func queryValue(q url.Values, name string) string {
	vs := q[name]
	if len(vs) == 0 {
		return ""
	}
	return vs[len(vs)-1]
}

func queryBool(q url.Values, name string) (bool, error) {
	v := queryValue(q, name)
	switch strings.ToLower(v) {
	case "":
		return false, nil
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, paramError(name, fmt.Sprintf("%s must be true or false, got %q.", name, v))
}

// queryOptBool reads an optional true/false parameter; nil when absent.
func queryOptBool(q url.Values, name string) (*bool, error) {
	if queryValue(q, name) == "" {
		return nil, nil
	}
	v, err := queryBool(q, name)
	return &v, err
}

// queryOptString reads an optional exact-match parameter; nil when absent.
func queryOptString(q url.Values, name string) *string {
	if !q.Has(name) {
		return nil
	}
	v := queryValue(q, name)
	return &v
}

// queryID reads an optional UUID parameter; nil when absent.
func queryID(q url.Values, name string) (*string, error) {
	v := queryValue(q, name)
	if v == "" {
		return nil, nil
	}
	id, err := canonicalID(v)
	if err != nil {
		return nil, paramError(name, fmt.Sprintf("%s must be a UUID, got %q.", name, v))
	}
	return &id, nil
}

// queryEnum reads an optional parameter that must be one of allowed.
func queryEnum(q url.Values, name string, allowed ...string) (*string, error) {
	v := queryValue(q, name)
	if v == "" {
		return nil, nil
	}
	for _, a := range allowed {
		if v == a {
			return &v, nil
		}
	}
	return nil, paramError(name, fmt.Sprintf("%s must be one of %s, got %q.", name, strings.Join(allowed, ", "), v))
}

func queryInt(q url.Values, name string, def, lo, hi int) (int, error) {
	v := queryValue(q, name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, paramError(name, fmt.Sprintf("%s must be an integer from %d to %d, got %q.", name, lo, hi, v))
	}
	return n, nil
}

func queryPage(q url.Values) (store.Page, error) {
	size, err := queryInt(q, "page[size]", defaultPageSize, 1, maxPageSize)
	if err != nil {
		return store.Page{}, err
	}
	num, err := queryInt(q, "page[number]", 1, 1, maxPageNumber)
	if err != nil {
		return store.Page{}, err
	}
	return store.Page{Number: num, Size: size}, nil
}

// queryDateRange reads filter[<field>][eq|gte|lte] as whole UTC days:
// eq is that day, gte from the start of that day, lte to the end of it.
// Several bounds combine into their intersection.
func queryDateRange(q url.Values, field string) (store.TimeRange, error) {
	var r store.TimeRange
	for _, op := range []string{"eq", "gte", "lte"} {
		name := "filter[" + field + "][" + op + "]"
		v := queryValue(q, name)
		if v == "" {
			continue
		}
		day, err := time.Parse(time.DateOnly, v)
		if err != nil {
			return r, paramError(name, fmt.Sprintf("%s must be a date as YYYY-MM-DD, got %q.", name, v))
		}
		next := day.AddDate(0, 0, 1)
		if op != "lte" && day.After(r.From) {
			r.From = day
		}
		if op != "gte" && (r.Until.IsZero() || next.Before(r.Until)) {
			r.Until = next
		}
	}
	return r, nil
}

// queryIntRange reads filter[<field>][eq|gte|lte] as an inclusive range of
// non-negative integers. The bare filter[<field>]=N, which the official SDK
// sends for a plain number, means "at least N", as the SDK documents it.
func queryIntRange(q url.Values, field string) (store.IntRange, error) {
	var r store.IntRange
	for _, op := range []string{"", "eq", "gte", "lte"} {
		name := "filter[" + field + "]"
		if op != "" {
			name += "[" + op + "]"
		}
		v := queryValue(q, name)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return r, paramError(name, fmt.Sprintf("%s must be a whole number of seconds, got %q.", name, v))
		}
		lower, upper := op != "lte", op == "eq" || op == "lte"
		if lower && (r.Min == nil || n > *r.Min) {
			r.Min = &n
		}
		if upper && (r.Max == nil || n < *r.Max) {
			r.Max = &n
		}
	}
	return r, nil
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
