package webhook

import (
	"errors"
	"net/url"
	"testing"
)

func TestRedactURL(t *testing.T) {
	for raw, want := range map[string]string{
		"https://user:pass@hook.example/x?secret=abc#frag": "https://hook.example/x",
		"https://user@hook.example:8443/a/b":               "https://hook.example:8443/a/b",
		"http://hook.example/x?":                           "http://hook.example/x",
		"http://hook.example/x#only-a-fragment":            "http://hook.example/x",
		"http://hook.example/a%2Fb?token=t":                "http://hook.example/a%2Fb",
		"https:user:pass@hook.example/x?secret=abc":        "https:",
		"ftp://user:pass@hook.example/x?secret=abc":        "ftp://hook.example/x",
		"/relative?secret=abc":                             "/relative",
		"http://user:p%zz@hook.example/x?secret=abc":       "(unparseable URL)",
		"http://[::1/x?secret=abc":                         "(unparseable URL)",
	} {
		if got := redactURL(raw); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", raw, got, want)
		}
	}
}

func TestRedactErr(t *testing.T) {
	to := "https://user:pass@hook.example/x?secret=abc"
	err := redactErr(&url.Error{Op: "Post", URL: "https://user:***@hook.example/x?secret=abc", Err: errors.New("connection refused")}, to)
	if want := `Post "https://hook.example/x": connection refused`; err.Error() != want {
		t.Errorf("redactErr = %q, want %q", err, want)
	}
	other := errors.New("answered 500")
	if got := redactErr(other, to); got != other {
		t.Errorf("redactErr changed an error without a URL: %v", got)
	}
}
