package webhooks_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/roomsd/roomsd/internal/client"
	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/testutil"
	"github.com/roomsd/roomsd/internal/testutil/probe"
)

type recordingRow struct {
	ID           string   `json:"id"`
	Status       string   `json:"status"`
	Type         string   `json:"type"`
	Codec        string   `json:"codec"`
	StartedAt    string   `json:"started_at"`
	EndedAt      *string  `json:"ended_at"`
	DurationSecs *int     `json:"duration_secs"`
	SizeMB       *float64 `json:"size_mb"`
	DownloadURL  *string  `json:"download_url"`
}

func (s *server) recordings(t *testing.T, roomID string) []recordingRow {
	t.Helper()
	var out struct {
		Data []recordingRow `json:"data"`
	}
	s.call(t, http.MethodGet, "/v2/room_recordings?filter[room_id]="+roomID, nil, &out)
	return out.Data
}

// waitRecordings waits until the room has n recordings of the status.
func (s *server) waitRecordings(t *testing.T, roomID string, n int, status string) []recordingRow {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		rs := s.recordings(t, roomID)
		ok := len(rs) == n
		for _, r := range rs {
			ok = ok && r.Status == status
		}
		if ok {
			return rs
		}
		if time.Now().After(deadline) {
			t.Fatalf("want %d recordings %s, have %+v", n, status, rs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestKill9WhileRecording: roomsd dies by SIGKILL in the middle of a
// recorded meeting. The files written so far play; after the restart the
// recordings are completed from what is on disk (never left processing),
// downloadable, and each recording's webhooks arrive started before
// completed.
func TestKill9WhileRecording(t *testing.T) {
	dir := t.TempDir()
	secret := make([]byte, 32)
	rand.Read(secret)
	env := map[string]string{
		"ROOMSD_WEBHOOK_SECRET":  "whsec_" + base64.StdEncoding.EncodeToString(secret),
		"ROOMSD_DB":              filepath.Join(dir, "roomsd.db"),
		"ROOMSD_DATA_DIR":        filepath.Join(dir, "media"),
		"ROOMSD_ADDR":            "127.0.0.1:0",
		"ROOMSD_API_KEYS":        apiKey,
		"ROOMSD_RTC_LOOPBACK":    "on",
		"ROOMSD_RTC_UDP_PORT":    "0",
		"ROOMSD_WEBHOOK_BACKOFF": "200ms",
	}
	rxAddr := testutil.ClosedAddr(t)
	srv := startServer(t, env)
	rx := startReceiver(t, rxAddr, srv.publicKey(t), secret, false)
	var room struct {
		Data struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	srv.call(t, http.MethodPost, "/v2/rooms", map[string]any{"enable_recording": true, "webhook_event_url": hookURL(rxAddr)}, &room)
	roomID := room.Data.ID
	var tok struct {
		Data struct {
			Token string `json:"token"`
		} `json:"data"`
	}
	srv.call(t, http.MethodPost, "/v2/rooms/"+roomID+"/actions/generate_join_client_token", map[string]any{}, &tok)
	ctx := t.Context()
	c, err := client.Join(ctx, client.ConnectURL(srv.Root, roomID), tok.Data.Token,
		client.Options{Context: "alice", Audio: true, Video: true, Loopback: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rs := srv.waitRecordings(t, roomID, 2, domain.RecordingProcessing)
	time.Sleep(3 * time.Second) // three seconds of media, then the crash
	srv.kill(t)
	killedAt := time.Now()

	// What is on disk plays, up to the crash.
	for _, r := range rs {
		path := filepath.Join(dir, "media", filepath.FromSlash(domain.RecordingKey(r.ID)))
		if st, err := os.Stat(path); err != nil || st.Size() == 0 {
			t.Fatalf("recording %s (%s): file %v", r.ID, r.Type, err)
		}
		if errs := probe.Decode(t, path); errs != "" {
			t.Logf("recording %s (%s) cut by the crash; ffmpeg notes: %s", r.ID, r.Type, errs)
		}
		played := probe.Played(t, path)
		t.Logf("recording %s (%s): %v of media on disk after the crash", r.ID, r.Type, played)
		if played < 2*time.Second {
			t.Errorf("recording %s (%s): only %v playable after 3 s of recording", r.ID, r.Type, played)
		}
	}

	srv2 := startServer(t, env)
	got := srv2.waitRecordings(t, roomID, 2, domain.RecordingCompleted)
	for _, r := range got {
		started, _ := time.Parse(time.RFC3339Nano, r.StartedAt)
		if r.EndedAt == nil || r.DurationSecs == nil || r.SizeMB == nil || r.DownloadURL == nil {
			t.Fatalf("recovered recording %+v lacks its end, duration, size or link", r)
		}
		ended, _ := time.Parse(time.RFC3339Nano, *r.EndedAt)
		if ended.Before(started.Add(2*time.Second)) || ended.After(killedAt) {
			t.Errorf("recovered recording %s: ended_at %v, want between 2 s after its start (%v) and the kill (%v)", r.ID, ended, started, killedAt)
		}
		resp, err := http.Get(*r.DownloadURL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("download of a recovered recording: %d", resp.StatusCode)
		}
	}
	// Each recording's started event comes before its completed one.
	deadline := time.Now().Add(30 * time.Second)
	for {
		hits, errs := rx.got()
		for _, e := range errs {
			t.Error(e)
		}
		order := map[string][]string{}
		links := map[string]string{}
		for _, h := range hits {
			var ev struct {
				Payload struct {
					RecordingID string `json:"recording_id"`
					DownloadURL string `json:"download_url"`
				} `json:"payload"`
			}
			json.Unmarshal(h.data, &ev)
			if id := ev.Payload.RecordingID; id != "" && h.answered {
				order[id] = append(order[id], h.eventType)
				if h.eventType == domain.EventRecordingCompleted {
					links[id] = ev.Payload.DownloadURL
				}
			}
		}
		done := len(order) == 2
		for _, r := range got {
			seq := order[r.ID]
			done = done && len(seq) == 2
			if len(seq) == 2 && (seq[0] != domain.EventRecordingStarted || seq[1] != domain.EventRecordingCompleted) {
				t.Fatalf("recording %s: events %v, want started then completed", r.ID, seq)
			}
		}
		if done {
			// The completed event's link is signed: it downloads the
			// file without the API key.
			for id, link := range links {
				resp, err := http.Get(link)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Errorf("recording %s: the webhook's download_url %s: %d", id, link, resp.StatusCode)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("recording webhooks after the restart: %v", order)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
