package sfu

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// visitor puts a participant who publishes one track of each kind into
// h's room, as the media server would once the tracks arrive.
func (h *offerHarness) visitor(id string) (*Participant, *track, *track) {
	h.t.Helper()
	v := &Participant{id: id, room: h.p.room, done: make(chan struct{}), wake: make(chan struct{}, 1)}
	audio, video := fakeTrack(h.t, id, webrtc.RTPCodecTypeAudio), fakeTrack(h.t, id, webrtc.RTPCodecTypeVideo)
	audio.owner, video.owner = v, v
	v.tracks = []*track{audio, video}
	h.p.room.mu.Lock()
	h.p.room.members[id] = v
	h.p.room.mu.Unlock()
	return v, audio, video
}

// event waits for the participant's next event of a type.
func (h *offerHarness) event(typ string) Event {
	h.t.Helper()
	deadline := time.After(time.Minute)
	for {
		select {
		case ev := <-h.events:
			if ev.Type == typ {
				return ev
			}
		case <-deadline:
			h.t.Fatalf("no %s event", typ)
			return Event{}
		}
	}
}

// A participant that joined with explicit subscriptions hears of every
// published track but receives only those it subscribes to, until it
// unsubscribes; asking for a track that is not there is refused.
func TestExplicitSubscriptions(t *testing.T) {
	h := newOfferHarnessWith(t, SubscribeExplicit)
	v, audio, video := h.visitor("visitor")
	h.p.room.publish(v, video)
	if ev := h.event(EventTrackPublished); ev.TrackID != video.id {
		t.Fatalf("heard of track %q, want %q", ev.TrackID, video.id)
	}
	select {
	case o := <-h.sdps:
		t.Fatalf("an offer came without a subscription:\n%s", o.SDP)
	default:
	}
	if h.p.downLocked(video.id) != nil {
		t.Fatal("subscribed without asking")
	}

	if err := h.p.Subscribe(video.id); err != nil {
		t.Fatal(err)
	}
	if with := h.answer(); strings.Count(with, "a=msid:visitor ") != 1 || !strings.Contains(with, "m=video") {
		t.Fatalf("after subscribing to the video the offer should carry it alone:\n%s", with)
	}
	if err := h.p.Subscribe(video.id); err != nil {
		t.Errorf("subscribing twice: %v", err)
	}
	if err := h.p.Subscribe(audio.id); err != nil {
		t.Fatal(err)
	}
	if with := h.answer(); strings.Count(with, "a=msid:visitor ") != 2 {
		t.Fatalf("after subscribing to both the offer should carry both:\n%s", with)
	}
	if err := h.p.Unsubscribe(video.id); err != nil {
		t.Fatal(err)
	}
	if without := h.answer(); strings.Count(without, "a=msid:visitor ") != 1 {
		t.Fatalf("after unsubscribing from the video the offer should carry the audio alone:\n%s", without)
	}

	for _, id := range []string{"no-such-track", ""} {
		if err := h.p.Subscribe(id); !errors.Is(err, ErrNoTrack) {
			t.Errorf("Subscribe(%q) = %v, want ErrNoTrack", id, err)
		}
	}
}

// With SubscribeAll (the roomsd protocol's policy), a published track is
// received without asking.
func TestSubscribeAllReceivesWithoutAsking(t *testing.T) {
	h := newOfferHarness(t)
	v, _, video := h.visitor("visitor")
	h.p.room.publish(v, video)
	h.event(EventTrackPublished)
	if with := h.answer(); !strings.Contains(with, "a=msid:visitor ") {
		t.Fatalf("the offer does not carry the published track:\n%s", with)
	}
}

// A participant that never subscribed to a track still hears that it is
// gone, and gets no offer for it.
func TestUnpublishedTrackIsAnnouncedToEveryone(t *testing.T) {
	h := newOfferHarnessWith(t, SubscribeExplicit)
	v, _, video := h.visitor("visitor")
	h.p.room.publish(v, video)
	h.event(EventTrackPublished)
	v.unpublish(video)
	if ev := h.event(EventTrackUnpublished); ev.TrackID != video.id {
		t.Fatalf("heard of the end of %q, want %q", ev.TrackID, video.id)
	}
	select {
	case o := <-h.sdps:
		t.Fatalf("an offer came for a track never received:\n%s", o.SDP)
	default:
	}
}
