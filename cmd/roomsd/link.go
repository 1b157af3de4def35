package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/roomsd/roomsd/internal/bot"
)

const linkUsage = `Usage: roomsd link --room ID|NAME [--name Ann] [--ttl 168h]

Makes a meeting link to a room through the REST API of a running server
(POST /roomsd/rooms/{room_id}/links with the API key) and prints it. The
link keeps working until --ttl has passed or it is revoked
(POST /roomsd/links/{id}/actions/revoke); each time it is opened, the
meeting page gets a fresh client token for the room. --room takes the
room's id or its unique_name.

Flags:
%s`

func linkMain(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("roomsd link", flag.ContinueOnError)
	fs.SetOutput(stderr)
	envOr := func(def string, envs ...string) string { return envDefault(getenv, def, envs...) }
	server := fs.String("server", envOr("http://127.0.0.1:8080", "ROOMSD_BOT_SERVER"), "roomsd base URL, with or without /v2 (env ROOMSD_BOT_SERVER)")
	apiKey := fs.String("api-key", envOr("", "ROOMSD_API_KEY", "ROOMSD_API_KEYS"), "API key (env ROOMSD_API_KEY, else the first of ROOMSD_API_KEYS)")
	room := fs.String("room", "", "the room: its id or its unique_name (required)")
	name := fs.String("name", "", "who the link is for: shown to the others as their name (empty: the person types one)")
	ttl := fs.Duration("ttl", 7*24*time.Hour, "how long the link keeps working, from 1m to 2160h (90 days)")
	fs.Usage = usageWith(fs, stdout, linkUsage)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "roomsd link: "+format+"\nRun \"roomsd link --help\" for the flags.\n", a...)
		return 2
	}
	switch {
	case fs.NArg() > 0:
		return usageErr("unexpected argument %q", fs.Arg(0))
	case *room == "":
		return usageErr("--room is required: a room's id or unique_name")
	case *apiKey == "":
		return usageErr("--api-key is required (or set ROOMSD_API_KEY)")
	case *ttl%time.Second != 0:
		return usageErr("--ttl %v: whole seconds", *ttl)
	}
	base, err := bot.BaseURL(*server)
	if err != nil {
		return usageErr("--server: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := apiClient{base: base, key: *apiKey, http: &http.Client{Timeout: 15 * time.Second}}
	id := *room
	if _, err := uuid.Parse(id); err != nil || len(id) != 36 {
		var list struct {
			Data []struct {
				ID string `json:"id"`
			} `json:"data"`
		}
		if err := c.do(ctx, http.MethodGet, "/v2/rooms?filter[unique_name]="+url.QueryEscape(id), nil, &list); err != nil {
			fmt.Fprintf(stderr, "roomsd link: %v\n", err)
			return 1
		}
		if len(list.Data) == 0 {
			fmt.Fprintf(stderr, "roomsd link: no room with the unique_name %q; create it first (POST /v2/rooms)\n", id)
			return 1
		}
		id = list.Data[0].ID
	}
	var made struct {
		Data struct {
			URL       string `json:"url"`
			ExpiresAt string `json:"expires_at"`
			ID        string `json:"id"`
		} `json:"data"`
	}
	body := map[string]any{"ttl_secs": int(*ttl / time.Second)}
	if *name != "" {
		body["name"] = *name
	}
	if err := c.do(ctx, http.MethodPost, "/roomsd/rooms/"+id+"/links", body, &made); err != nil {
		fmt.Fprintf(stderr, "roomsd link: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, made.Data.URL)
	fmt.Fprintf(stderr, "roomsd link: link %s to room %s, valid until %s; revoke it with POST %s/roomsd/links/%s/actions/revoke\n",
		made.Data.ID, id, made.Data.ExpiresAt, base, made.Data.ID)
	return 0
}

// apiClient calls the REST API with the API key.
type apiClient struct {
	base, key string
	http      *http.Client
}

// do sends a request and decodes a 2xx answer into out; any other answer
// is an error carrying the API's own title and detail.
func (c apiClient) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w (is the server running? set --server)", method, c.base+path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		var e struct {
			Errors []struct {
				Title  string `json:"title"`
				Detail string `json:"detail"`
				Source struct {
					Pointer string `json:"pointer"`
				} `json:"source"`
			} `json:"errors"`
		}
		msg := resp.Status
		if json.Unmarshal(raw, &e) == nil && len(e.Errors) > 0 {
			msg += ": " + e.Errors[0].Title
			if p := strings.TrimPrefix(e.Errors[0].Source.Pointer, "/"); p != "" {
				msg += ": " + p
			}
			msg += ": " + e.Errors[0].Detail
		}
		return fmt.Errorf("%s %s: %s", method, path, msg)
	}
	return json.Unmarshal(raw, out)
}
