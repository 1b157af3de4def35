package httpx

import (
	"math"
	"net/http"
	"strconv"
	"time"
)

// CodeTooMany is the envelope code of a request refused by a rate limit.
const CodeTooMany = "10011"

// TooManyRequests answers 429 with Retry-After (whole seconds, at least
// one) and detail, which says what was limited.
func TooManyRequests(w http.ResponseWriter, retryAfter time.Duration, detail string) {
	secs := retryAfterSeconds(retryAfter)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	WriteError(w, &Error{Status: http.StatusTooManyRequests, Code: CodeTooMany, Title: "Too many requests",
		Detail: detail + " Try again in " + strconv.Itoa(secs) + " s (Retry-After)."})
}

// Unavailable answers 503 with Retry-After: the server is at a capacity
// it was given, and another server (or this one, later) may take the
// request.
func Unavailable(w http.ResponseWriter, retryAfter time.Duration, detail string) {
	w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(retryAfter)))
	WriteError(w, &Error{Status: http.StatusServiceUnavailable, Code: CodeUnexpected, Title: "Service unavailable", Detail: detail})
}

// retryAfterSeconds is d in whole seconds, rounded up, at least one.
func retryAfterSeconds(d time.Duration) int {
	return int(math.Max(1, math.Ceil(d.Seconds())))
}
