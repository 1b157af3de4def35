package app_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/roomsd/roomsd/internal/client"
	"github.com/roomsd/roomsd/internal/testutil"
)

// At info the server logs one line per session start and end, join,
// leave (with its reason), kick, mute and refused join (with its reason):
// ids and reasons, never a token or a participant's context.
func TestInfoLogTellsWhatHappened(t *testing.T) {
	logs := &testutil.SyncBuffer{}
	s := &server{App: testutil.StartAppLogging(t, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))), t: t}
	room := s.room(map[string]any{"max_participants": 2})
	alice := s.join(room, "Alice Secret-Name", false, false)
	bob := s.join(room, "Bob", false, false)
	tok := s.token(room)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := client.Join(ctx, client.ConnectURL(s.URL, room), tok, client.Options{Loopback: true}); err == nil {
		t.Fatal("a third participant joined a room of two")
	}
	if _, err := client.Join(ctx, client.ConnectURL(s.URL, room), "not-a-token", client.Options{Loopback: true}); err == nil {
		t.Fatal("a forged token joined")
	}
	sess := alice.SessionID
	s.api("POST", "/room_sessions/"+sess+"/actions/mute", map[string]any{"participants": []string{bob.ParticipantID}})
	s.api("POST", "/room_sessions/"+sess+"/actions/kick", map[string]any{"participants": []string{bob.ParticipantID}})
	s.api("POST", "/room_sessions/"+sess+"/actions/end", map[string]any{})
	want := []string{
		`msg="session started" room_id=` + room,
		`msg="participant joined" room_id=` + room + ` session_id=` + sess + ` participant_id=` + alice.ParticipantID,
		`msg="participant joined" room_id=` + room + ` session_id=` + sess + ` participant_id=` + bob.ParticipantID,
		`msg="join refused" room_id=` + room + ` reason=room_full`,
		`msg="join refused" room_id=` + room + ` reason=unauthorized`,
		`msg="participants muted" session_id=` + sess + ` participant_ids=[` + bob.ParticipantID + `]`,
		`msg="participant left" room_id=` + room + ` session_id=` + sess + ` participant_id=` + bob.ParticipantID + ` reason=kicked`,
		`msg="participant left" room_id=` + room + ` session_id=` + sess + ` participant_id=` + alice.ParticipantID + ` reason=session_ended`,
		`msg="session ended" room_id=` + room + ` session_id=` + sess + ` reason=api`,
	}
	testutil.Eventually(t, 10*time.Second, "every line logged", func() bool {
		for _, w := range want {
			if !strings.Contains(logs.String(), w) {
				return false
			}
		}
		return true
	})
	for _, secret := range []string{tok, "Secret-Name", "not-a-token"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log shows %q:\n%s", secret, logs)
		}
	}
}
