package app_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/roomsd/roomsd/internal/config"
	"github.com/roomsd/roomsd/internal/testutil"
)

// TestDiskFullRecordingFailsMeetingGoesOn: the recordings' disk fills up
// (a 96 KiB tmpfs) in the middle of a recorded meeting. The recordings
// that cannot be written are marked failed, what they had written stays
// downloadable, and the meeting goes on: media keeps flowing between the
// participants.
func TestDiskFullRecordingFailsMeetingGoesOn(t *testing.T) {
	data := filepath.Join(t.TempDir(), "media")
	small := filepath.Join(data, "recordings")
	if err := os.MkdirAll(small, 0o750); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", small).CombinedOutput(); err != nil {
		t.Skipf("a full disk is made with a small tmpfs, which needs root (mount: %v: %s)", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", small).Run() })
	s := newServer(t, func(c *config.Config) { c.DataDir = data })
	room := s.room(map[string]any{"enable_recording": true})
	alice := s.join(room, "alice", true, true)
	bob := s.join(room, "bob", true, true)
	s.waitRecordings(room, 4, "processing")
	// Two participants' media fills 96 KiB within seconds; wait until a
	// recording has failed.
	testutil.Eventually(t, 60*time.Second, "a recording fails on the full disk", func() bool {
		code, out := s.api("GET", "/room_recordings?filter[room_id]="+room+"&filter[status]=failed", nil)
		return code == 200 && len(out["data"].([]any)) > 0
	})
	before := received(bob, alice.ParticipantID, "video") + received(bob, alice.ParticipantID, "audio")
	testutil.Eventually(t, 15*time.Second, "the meeting goes on after the disk filled", func() bool {
		return received(bob, alice.ParticipantID, "video")+received(bob, alice.ParticipantID, "audio") > before+100 &&
			received(alice, bob.ParticipantID, "audio") > 100
	})
	for _, c := range []interface{ Close() }{alice, bob} {
		c.Close()
	}
	testutil.Eventually(t, 30*time.Second, "every recording finished", func() bool {
		for _, r := range s.recordings(room) {
			if r["status"] == "processing" {
				return false
			}
		}
		return true
	})
	failed := 0
	for _, r := range s.recordings(room) {
		if r["status"] != "failed" {
			continue
		}
		failed++
		if r["ended_at"] == nil {
			t.Errorf("failed recording %s has no ended_at", r["id"])
		}
		if u, ok := r["download_url"].(string); ok {
			if code, body, _ := fetch(t, u, false); code != 200 || len(body) == 0 {
				t.Errorf("what a failed recording wrote: %d, %d bytes", code, len(body))
			}
		}
	}
	t.Logf("%d of 4 recordings failed on the full disk", failed)
}
