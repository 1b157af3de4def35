package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// envDefault returns the first of envs that getenv sets, else def. For
// ROOMSD_API_KEYS (a command run on the server's own machine) it is the
// first key.
func envDefault(getenv func(string) string, def string, envs ...string) string {
	for _, e := range envs {
		if v := strings.TrimSpace(getenv(e)); v != "" {
			if e == "ROOMSD_API_KEYS" {
				v, _, _ = strings.Cut(v, ",")
			}
			return v
		}
	}
	return def
}

// usageWith makes fs's usage print text, a format whose %s receives the
// flags' defaults, to out.
func usageWith(fs *flag.FlagSet, out io.Writer, text string) func() {
	return func() {
		var b strings.Builder
		w := fs.Output()
		fs.SetOutput(&b)
		fs.PrintDefaults()
		fs.SetOutput(w)
		fmt.Fprintf(out, text, b.String())
	}
}
