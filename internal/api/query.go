package api

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/roomsd/roomsd/internal/httpx"
)

// withQuery parses the query string of every request strictly, before any
// handler reads it, and answers an error naming the parameter when it does
// not parse. The standard library's URL.Query drops a pair it cannot
// decode without a word, and with it the filter the pair carried, so a
// list would show, and a bulk delete remove, more than asked.
func (a *API) withQuery(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.RawQuery == "" {
			next.ServeHTTP(w, r)
			return
		}
		vals, err := parseQuery(r.URL.RawQuery)
		if err != nil {
			a.fail(w, r, err, "")
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), queryKey, vals)))
	})
}

// parseQuery splits a raw query into its parameters. Pairs are separated
// by & only; an empty pair (a&&b, a trailing &) is skipped. Names and
// values are percent-decoded, + being a space. It refuses, naming the
// parameter:
//
//   - a ; anywhere (some servers take it as a separator, so its meaning
//     is ambiguous): 400;
//   - a % not followed by two hex digits: 400;
//   - a pair without a name (=x): 400;
//   - a name or value that decodes to invalid UTF-8 or holds a NUL: 422;
//   - more than maxQueryParams pairs, empty ones counted, as
//     url.ParseQuery counts them: 400 (naming none).
func parseQuery(raw string) (url.Values, error) {
	if strings.Count(raw, "&") >= maxQueryParams {
		return nil, malformedQuery("", fmt.Sprintf("The query has more than %d parameters.", maxQueryParams))
	}
	vals := url.Values{}
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" {
			continue
		}
		rawName, rawValue, _ := strings.Cut(pair, "=")
		if before, _, semi := strings.Cut(pair, ";"); semi {
			name := before
			if n, _, ok := strings.Cut(before, "="); ok {
				name = n
			}
			return nil, malformedQuery(decodedOrRaw(name), fmt.Sprintf(
				"The query holds a ; (in %s); separate parameters with & and send a ; inside a value as %%3B.", httpx.Quote(pair)))
		}
		name, err := url.QueryUnescape(rawName)
		if err != nil {
			return nil, malformedQuery(httpx.Printable(rawName), fmt.Sprintf(
				"The parameter name %s is not percent-encoded correctly: a %% must be followed by two hex digits (send %% itself as %%25).", httpx.Quote(rawName)))
		}
		if name == "" {
			return nil, malformedQuery("", fmt.Sprintf("The query holds a value without a parameter name (%s).", httpx.Quote(pair)))
		}
		value, err := url.QueryUnescape(rawValue)
		if err != nil {
			return nil, malformedQuery(httpx.Printable(name), fmt.Sprintf(
				"The value of %s is not percent-encoded correctly: a %% must be followed by two hex digits (send %% itself as %%25).", httpx.Printable(name)))
		}
		if p := httpx.TextProblem(name); p != "" {
			return nil, paramError(httpx.Printable(name), "A parameter name "+p+".")
		}
		if p := httpx.TextProblem(value); p != "" {
			return nil, paramError(name, "The value of "+name+" "+p+".")
		}
		vals[name] = append(vals[name], value)
	}
	return vals, nil
}

// maxQueryParams is the most parameters a query may have: the bound
// url.ParseQuery sets, so that no query parses here that the standard
// library would refuse.
const maxQueryParams = 10000

// malformedQuery is a 400 for a query that does not parse.
func malformedQuery(param, detail string) *apiError {
	e := newError(http.StatusBadRequest, codeBadRequest, "Malformed query", detail)
	if param != "" {
		e.Source = &errorSource{Parameter: param}
	}
	return e
}

// decodedOrRaw decodes a parameter name if it can, for naming it.
func decodedOrRaw(raw string) string {
	if n, err := url.QueryUnescape(raw); err == nil && httpx.TextProblem(n) == "" {
		return n
	}
	return httpx.Printable(raw)
}
