package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/roomsd/roomsd/internal/client"
	"github.com/roomsd/roomsd/internal/signal"
	"github.com/roomsd/roomsd/internal/testutil"
)

// joinWith joins a room with the given client options (on loopback).
func (s *server) joinWith(roomID string, opts client.Options) *client.Client {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	opts.Loopback = true
	c, err := client.Join(ctx, client.ConnectURL(s.URL, roomID), s.token(roomID), opts)
	if err != nil {
		s.t.Fatalf("%s joins: %v", opts.Context, err)
	}
	s.t.Cleanup(c.Close)
	return c
}

// videoTrackOf waits for the track_published of a participant's video.
func videoTrackOf(t *testing.T, c *client.Client, publisher string) string {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case m, ok := <-c.Events():
			if !ok {
				t.Fatal("connection closed while waiting for the video track")
			}
			if m.Type == "track_published" && m.ParticipantID == publisher && m.Kind == "video" {
				return m.TrackID
			}
		case <-deadline:
			t.Fatal("no track_published for the video")
		}
	}
}

func settings(t *testing.T, c *client.Client, track string, visible bool, w, h int, quality string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.SetTrackSettings(ctx, track, visible, w, h, quality); err != nil {
		t.Fatal(err)
	}
}

// A simulcast publisher's three layers reach each subscriber as one
// stream of the layer its window needs: a thumbnail gets the 180-line
// layer, a full-size window the 720-line one; resizing moves a subscriber
// to another layer, seamlessly (no sequence gap), and a pinned quality
// wins over the window.
func TestSimulcastLayerFollowsTheWindow(t *testing.T) {
	s := newServer(t)
	room := s.room(nil)
	thumb := s.joinWith(room, client.Options{Context: "Thumb"})
	full := s.joinWith(room, client.Options{Context: "Full"})
	pub := s.joinWith(room, client.Options{Context: "Pub", Video: true, Simulcast: true})
	tt, ft := videoTrackOf(t, thumb, pub.ParticipantID), videoTrackOf(t, full, pub.ParticipantID)
	settings(t, thumb, tt, true, 320, 180, "")
	settings(t, full, ft, true, 1280, 720, "")
	height := func(c *client.Client) int { return c.Received(pub.ParticipantID, "video").Height }
	testutil.Eventually(t, 20*time.Second, "the thumbnail gets 180 lines and the full window 720", func() bool {
		return height(thumb) == 180 && height(full) == 720
	})

	// The thumbnail is enlarged: it moves up, on a keyframe of the high
	// layer, without a hole in its sequence numbers.
	settings(t, thumb, tt, true, 1280, 720, "")
	testutil.Eventually(t, 10*time.Second, "the enlarged thumbnail gets 720 lines", func() bool { return height(thumb) == 720 })
	// A pinned quality beats the window.
	settings(t, full, ft, true, 1280, 720, "medium")
	testutil.Eventually(t, 10*time.Second, "the pinned subscriber gets 360 lines", func() bool { return height(full) == 360 })
	for _, c := range []*client.Client{thumb, full} {
		// A hole a switch left in the numbering stays; a packet lost on
		// the way (loopback drops some on a busy machine) is resent and
		// fills its place. So the count is complete at some moment.
		var st client.TrackStats
		testutil.Eventually(t, 10*time.Second, "no packet missing from a stream that switched layers", func() bool {
			st = c.Received(pub.ParticipantID, "video")
			return st.Expected == st.Packets
		})
		if st.Freezes > 0 {
			t.Errorf("a switch froze the video: %d gaps over %v, longest %v", st.Freezes, client.FreezeGap, st.LongestGap)
		}
	}
}

// A hidden video costs the subscriber no video bytes; shown again, it
// resumes with a keyframe.
func TestHiddenVideoCostsNothing(t *testing.T) {
	s := newServer(t)
	room := s.room(nil)
	sub := s.joinWith(room, client.Options{Context: "Sub"})
	pub := s.joinWith(room, client.Options{Context: "Pub", Video: true, VideoClip: client.VideoMedium})
	track := videoTrackOf(t, sub, pub.ParticipantID)
	video := func() client.TrackStats { return sub.Received(pub.ParticipantID, "video") }
	testutil.Eventually(t, 15*time.Second, "video arrives", func() bool { return video().Packets > 30 })
	settings(t, sub, track, false, 0, 0, "")
	// Once what was in flight has arrived, nothing more does.
	var last client.TrackStats
	testutil.Eventually(t, 10*time.Second, "video stops", func() bool {
		v := video()
		quiet := v.Packets > 0 && time.Since(v.Last) > time.Second
		last = v
		return quiet
	})
	time.Sleep(time.Second)
	if v := video(); v.Bytes != last.Bytes {
		t.Fatalf("hidden video still costs %d bytes", v.Bytes-last.Bytes)
	}
	settings(t, sub, track, true, 640, 360, "")
	testutil.Eventually(t, 10*time.Second, "video resumes with a keyframe", func() bool {
		v := video()
		return v.Keyframes > last.Keyframes && v.Packets > last.Packets+30
	})
	if v := video(); v.Expected != v.Packets {
		t.Errorf("resumed stream has a gap: %d expected, %d received", v.Expected, v.Packets)
	}
}

// track_settings with bad values is refused with an error; the socket
// stays open.
func TestTrackSettingsRefusesBadValues(t *testing.T) {
	s := newServer(t)
	room := s.room(nil)
	c := s.joinWith(room, client.Options{Context: "C"})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	yes := true
	for _, m := range []signal.Message{
		{Type: signal.TypeTrackSettings},
		{Type: signal.TypeTrackSettings, TrackID: "x", Quality: "ultra"},
		{Type: signal.TypeTrackSettings, TrackID: "x", Width: -1, Visible: &yes},
		{Type: signal.TypeTrackSettings, TrackID: "x", Height: 100000},
	} {
		if err := c.Send(ctx, m); err != nil {
			t.Fatal(err)
		}
		if e := waitEvent(t, c, signal.TypeError, 5*time.Second); e.Code != signal.CodeBadMessage {
			t.Errorf("%+v: error %+v", m, e)
		}
	}
	if err := c.Send(ctx, signal.Message{Type: signal.TypePing}); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, c, signal.TypePong, 5*time.Second)
}
