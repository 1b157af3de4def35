package main

import (
	"strings"
	"testing"

	"github.com/roomsd/roomsd/internal/testutil"
)

// roomsd link makes a meeting link to a room named by id or unique_name
// and prints its URL; the link opens.
func TestLinkCommand(t *testing.T) {
	s := testutil.StartApp(t)
	code, out := s.Call("POST", "/v2/rooms", map[string]any{"unique_name": "weekly"})
	if code != 201 {
		t.Fatalf("create room: %d %v", code, out)
	}
	id := out["data"].(map[string]any)["id"].(string)
	env := map[string]string{"ROOMSD_BOT_SERVER": s.URL, "ROOMSD_API_KEY": "k"}
	for _, room := range []string{id, "weekly"} {
		code, stdout, stderr := runCmd(env, "link", "--room", room, "--name", "Ann", "--ttl", "48h")
		url := strings.TrimSpace(stdout)
		secret, ok := strings.CutPrefix(url, s.URL+"/join#link=")
		if code != 0 || !ok || !strings.Contains(stderr, "valid until") {
			t.Fatalf("link --room %s: exit %d, %q %q", room, code, stdout, stderr)
		}
		code, opened := s.Call("POST", "/roomsd/links/actions/open", map[string]any{"link": secret})
		if d, _ := opened["data"].(map[string]any); code != 201 || d["room_id"] != id || d["name"] != "Ann" {
			t.Errorf("the printed link opens as %d %v", code, opened)
		}
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"link"}, 2, "--room is required"},
		{[]string{"link", "--room", "nosuch"}, 1, `no room with the unique_name "nosuch"`},
		{[]string{"link", "--room", id, "--ttl", "10s"}, 1, "ttl_secs: must be from 60"},
	} {
		code, _, stderr := runCmd(env, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("roomsd %v: exit %d, %q; want %d and %q", tc.args, code, stderr, tc.code, tc.want)
		}
	}
}
