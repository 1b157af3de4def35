package sfu

import (
	"slices"
	"testing"

	"github.com/pion/webrtc/v4"
)

// speakerRoom is a room of participants each publishing one audio track,
// whose levels the test feeds.
func speakerRoom(ids ...string) (*Room, map[string]*track) {
	r := &Room{id: "r", members: map[string]*Participant{}}
	tracks := map[string]*track{}
	for _, id := range ids {
		p := &Participant{id: id, room: r, wake: make(chan struct{}, 1), done: make(chan struct{})}
		t := &track{owner: p, id: id + "-audio", kind: webrtc.RTPCodecTypeAudio}
		p.tracks = []*track{t}
		r.members[id] = p
		tracks[id] = t
	}
	return r, tracks
}

// round feeds one interval of packets at these levels (dBov; 127 is
// silence) and ranks.
func round(r *Room, tracks map[string]*track, levels map[string]byte) []string {
	for id, l := range levels {
		for range 15 {
			tracks[id].level.add(l)
		}
	}
	r.rankSpeakers()
	return r.speakers.current
}

// The ranking has hysteresis: the dominant speaker keeps the first place
// against someone only a little louder, loses it to someone clearly
// louder, and a speaker stays listed through a quieter stretch; a muted
// participant is never listed.
func TestSpeakerHysteresis(t *testing.T) {
	r, tr := speakerRoom("a", "b")
	var got []string
	for range 4 {
		got = round(r, tr, map[string]byte{"a": 30, "b": 127})
	}
	if !slices.Equal(got, []string{"a"}) {
		t.Fatalf("a alone speaking: %v", got)
	}
	// b starts, a little louder than a (loudness 102 against 97).
	for range 10 {
		got = round(r, tr, map[string]byte{"a": 30, "b": 25})
	}
	if !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("b a little louder: %v, want a to stay first", got)
	}
	// b much louder (127 against 80): it takes the first place.
	for range 4 {
		got = round(r, tr, map[string]byte{"a": 47, "b": 0})
	}
	if !slices.Equal(got, []string{"b", "a"}) {
		t.Errorf("b clearly louder: %v, want b first", got)
	}
	// a talks quietly: a fifth of its packets active (loudness about 17).
	// Below the threshold for a newcomer, but a speaker keeps its place.
	for range 4 {
		for range 60 {
			tr["a"].level.add(127)
		}
		got = round(r, tr, map[string]byte{"a": 40, "b": 0})
	}
	if !slices.Contains(got, "a") {
		t.Errorf("a quieter but still speaking: %v, want it kept", got)
	}
	// Muted, b is never a speaker.
	r.members["b"].muted.Store(true)
	for range 4 {
		got = round(r, tr, map[string]byte{"a": 30, "b": 0})
	}
	if !slices.Equal(got, []string{"a"}) {
		t.Errorf("b muted: %v, want a alone", got)
	}
}
