package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/roomsd/roomsd/internal/bot"
	"github.com/roomsd/roomsd/internal/client"
	"github.com/roomsd/roomsd/internal/testutil"
)

// post calls the REST API of s and returns the data of its 201 answer.
func post(t *testing.T, s *testutil.App, path string, body map[string]any) map[string]any {
	t.Helper()
	code, out := s.Call("POST", path, body)
	if code != http.StatusCreated {
		t.Fatalf("POST %s: %d %v", path, code, out)
	}
	data, _ := out["data"].(map[string]any)
	return data
}

// Two bots join a room that already has a pion publisher: each receives
// the publisher's audio and video and the other bot's, and the report
// says so.
func TestBotJoinsPublishesAndReports(t *testing.T) {
	s := testutil.StartApp(t)
	url := s.URL
	room := post(t, s, "/v2/rooms", map[string]any{})["id"].(string)
	token := post(t, s, "/v2/rooms/"+room+"/actions/generate_join_client_token", map[string]any{})["token"].(string)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pub, err := client.Join(ctx, client.ConnectURL(url, room), token, client.Options{Context: "Publisher", Audio: true, Video: true, Loopback: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pub.Close)

	var stdout, stderr bytes.Buffer
	env := map[string]string{"ROOMSD_BOT_SERVER": url + "/v2", "ROOMSD_API_KEY": "k"}
	code := runBot(context.Background(), []string{"--room", room, "--count", "2", "--duration", "3s", "--context", "bot"},
		func(k string) string { return env[k] }, &stdout, &stderr, nil)
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr.String())
	}
	var rep bot.Report
	dec := json.NewDecoder(&stdout)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("stdout is not one report: %v\n%s", err, stdout.String())
	}
	if dec.More() {
		t.Errorf("more than one JSON value on stdout")
	}
	if len(rep.ParticipantIDs) != 2 || len(rep.Participants) != 2 || rep.Failed != 0 || rep.RoomID != room {
		t.Fatalf("report: %+v", rep)
	}
	if rep.Server != url || strings.Join(rep.Publish, ",") != "audio,video" {
		t.Errorf("server %q, publish %v", rep.Server, rep.Publish)
	}
	var total int64
	for i, p := range rep.Participants {
		if p.ParticipantID != rep.ParticipantIDs[i] || p.Context != []string{"bot-1", "bot-2"}[i] || !p.Connected || p.Error != "" {
			t.Errorf("participant %d: %+v", i, p)
		}
		other := rep.ParticipantIDs[1-i]
		for _, from := range []string{pub.ParticipantID, other} {
			for _, kind := range []string{"audio", "video"} {
				c := p.Received[from][kind]
				if c.Packets == 0 || c.Bytes == 0 {
					t.Errorf("%s received no %s from %s: %+v", p.Context, kind, from, p.Received)
				}
				total += c.Packets
			}
		}
		if len(p.Received) != 2 {
			t.Errorf("%s received from %d participants, want 2", p.Context, len(p.Received))
		}
		// Over 3 s at 50 packets a second, at least a second's worth.
		if n := p.Received[pub.ParticipantID]["audio"].Packets; n < 50 {
			t.Errorf("%s: %d audio packets from the publisher", p.Context, n)
		}
		for name, v := range map[string]*int64{"join_ms": p.JoinMS, "connect_ms": p.ConnectMS, "join_to_first_video_ms": p.FirstVideoMS} {
			if v == nil || *v < 0 || *v > 20000 {
				t.Errorf("%s: %s = %v", p.Context, name, v)
			}
		}
	}
	if rep.Totals.Packets != total {
		t.Errorf("totals.packets %d, sum %d", rep.Totals.Packets, total)
	}
	// The publisher received both bots as well.
	for _, id := range rep.ParticipantIDs {
		if pub.Received(id, "audio").Packets == 0 || pub.Received(id, "video").Packets == 0 {
			t.Errorf("the publisher received nothing from bot %s", id)
		}
	}
	if !strings.Contains(stderr.String(), "progress t=") || !strings.Contains(stderr.String(), "connected=2/2") {
		t.Errorf("no progress on stderr:\n%s", stderr.String())
	}
}

// A bot that publishes nothing still joins and receives.
func TestBotPublishNone(t *testing.T) {
	s := testutil.StartApp(t)
	url := s.URL
	room := post(t, s, "/v2/rooms", map[string]any{})["id"].(string)
	var stdout, stderr bytes.Buffer
	code := runBot(context.Background(), []string{"--server", url, "--api-key", "k", "--room", room, "--count", "2",
		"--duration", "0s", "--publish", "none", "--progress", "0"}, func(string) string { return "" }, &stdout, &stderr, nil)
	var rep bot.Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil || code != 0 {
		t.Fatalf("exit %d, %v; stderr:\n%s", code, err, stderr.String())
	}
	if len(rep.ParticipantIDs) != 2 || len(rep.Publish) != 0 || rep.Totals.Packets != 0 {
		t.Errorf("report: %+v", rep)
	}
}

func TestBotFailuresAndFlags(t *testing.T) {
	s := testutil.StartApp(t)
	url := s.URL
	room := post(t, s, "/v2/rooms", map[string]any{"max_participants": 2})["id"].(string)
	noenv := func(string) string { return "" }
	cases := []struct {
		args []string
		code int
		want string
	}{
		// A wrong key: the token request fails, and says why.
		{[]string{"--server", url, "--api-key", "wrong", "--room", room}, 1, "401"},
		// Three into a room of two: one is refused as the room is full.
		{[]string{"--server", url, "--api-key", "k", "--room", room, "--count", "3", "--duration", "0s"}, 1, "room_full"},
		{[]string{"--server", url, "--api-key", "k", "--room", room, "--publish", "smell"}, 2, "--publish"},
		{[]string{"--server", "127.0.0.1:8080", "--api-key", "k", "--room", room}, 2, "--server"},
		{[]string{"--api-key", "k"}, 2, "--room is required"},
		{[]string{"--room", room}, 2, "--api-key is required"},
		{[]string{"--room", room, "--api-key", "k", "--count", "0"}, 2, "--count"},
		{[]string{"--room", room, "--api-key", "k", "--quality", "best"}, 2, "--quality"},
		{[]string{"--room", room, "--api-key", "k", "--delay", "11s"}, 2, "--delay"},
	}
	for _, tc := range cases {
		var stdout, stderr bytes.Buffer
		code := runBot(context.Background(), tc.args, noenv, &stdout, &stderr, nil)
		if code != tc.code || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("bot %v: exit %d, stderr %q; want exit %d mentioning %q", tc.args, code, stderr.String(), tc.code, tc.want)
		}
		if code == 1 {
			var rep bot.Report
			if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil || rep.Failed == 0 {
				t.Errorf("bot %v: report %v %+v", tc.args, err, rep)
			}
		}
	}
}

func TestBotHelp(t *testing.T) {
	code, out, errs := runCmd(nil, "bot", "--help")
	help := out + errs
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"-server", "-api-key", "-room", "-context", "-count", "-duration", "-publish", "-loopback",
		"-connect-timeout", "-progress", "ROOMSD_BOT_SERVER", "ROOMSD_API_KEY", "participant_ids", "join_to_first_video_ms",
		`"received"`, `"packets"`, `"bytes"`, "SIGUSR1", "Exit status"} {
		if !strings.Contains(help, want) {
			t.Errorf("bot --help does not mention %s", want)
		}
	}
	if _, out, _ := runCmd(nil, "help"); !strings.Contains(out, "roomsd bot") {
		t.Errorf("usage does not mention roomsd bot")
	}
}
