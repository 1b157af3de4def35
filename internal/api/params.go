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

// pathID reads a UUID path parameter in its canonical 36-character form.
func pathID(raw, name string) (string, error) {
	if len(raw) == 36 {
		if u, err := uuid.Parse(raw); err == nil {
			return u.String(), nil
		}
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
