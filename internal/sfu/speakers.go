package sfu

import (
	"slices"
	"sync/atomic"
	"time"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// Active speakers. Publishers' audio packets carry the RFC 6464 audio
// level (0 dBov loudest, 127 silence), negotiated as a header extension.
// A packet at activeDBov or louder is active (speech, not a room's hum).
// Every speakerEvery the room reads each audio track's share of active
// packets times their loudness (127 - dBov), smooths it, and ranks the
// participants above speakerThreshold (and those already speaking down to
// speakerKeep of it), muted ones never.
// The ranking changes only with hysteresis: a new loudest speaker must be
// louder than the current one by speakerMargin, or the current one must
// have fallen silent; so two people talking at once do not make it flap.
// When the ranked list (at most maxSpeakers) changes, everyone in the room
// hears a speakers event; the first is the dominant speaker, whose video
// the allocator serves first.
const (
	speakerEvery     = 300 * time.Millisecond
	speakerSmoothing = 0.5 // weight of the newest interval
	activeDBov       = 50
	speakerThreshold = 25.0 // e.g. a third of the packets active at -50 dBov
	speakerMargin    = 1.2
	speakerKeep      = 0.5
	maxSpeakers      = 3
)

// audioLevel accumulates one audio track's packets: how many there were,
// how many were active (at activeDBov or louder), and how loud those were.
type audioLevel struct {
	n, active, loud atomic.Int64
}

// add takes one packet's level (the extension's low 7 bits: dBov below
// full scale, 127 for silence).
func (a *audioLevel) add(level byte) {
	a.n.Add(1)
	if dBov := level & 0x7f; dBov <= activeDBov {
		a.active.Add(1)
		a.loud.Add(int64(127 - dBov))
	}
}

// take returns, since the last take, the share of active packets times
// their mean loudness (127 - dBov): 0 for silence or no packets.
func (a *audioLevel) take() float64 {
	n, active, loud := a.n.Swap(0), a.active.Swap(0), a.loud.Swap(0)
	if n == 0 || active == 0 {
		return 0
	}
	return float64(active) / float64(n) * float64(loud) / float64(active)
}

// audioLevelID is the negotiated id of the audio-level extension on a
// receiver, or 0.
func audioLevelID(r *webrtc.RTPReceiver) uint8 {
	if r == nil {
		return 0
	}
	for _, e := range r.GetParameters().HeaderExtensions {
		if e.URI == sdp.AudioLevelURI {
			return uint8(e.ID)
		}
	}
	return 0
}

// speakerState is a room's view of who speaks, used by its detector alone
// (and dominant, read by the allocators).
type speakerState struct {
	loud     map[*Participant]float64 // smoothed loudness
	current  []string                 // the last list announced
	dominant atomic.Pointer[string]
}

// detectSpeakers runs until the room is dropped.
func (r *Room) detectSpeakers(stop <-chan struct{}) {
	tick := time.NewTicker(speakerEvery)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			r.rankSpeakers()
		}
	}
}

// rankSpeakers reads the loudness of everyone's audio and announces the
// speakers if they changed.
func (r *Room) rankSpeakers() {
	st := &r.speakers
	members := r.snapshot()
	next := map[*Participant]float64{}
	for _, p := range members {
		now := 0.0
		for _, t := range p.published() {
			if t.kind == webrtc.RTPCodecTypeAudio {
				now = max(now, t.level.take())
			}
		}
		if p.muted.Load() || p.isClosed() {
			now = 0
		}
		next[p] = speakerSmoothing*now + (1-speakerSmoothing)*st.loud[p]
	}
	st.loud = next
	// Who speaks stays a speaker until well below the threshold: speech
	// has pauses.
	var ranked []*Participant
	for p, l := range next {
		if l >= speakerThreshold || (slices.Contains(st.current, p.id) && l >= speakerThreshold*speakerKeep) {
			ranked = append(ranked, p)
		}
	}
	slices.SortFunc(ranked, func(a, b *Participant) int {
		switch {
		case next[a] > next[b]:
			return -1
		case next[a] < next[b]:
			return 1
		}
		return 0
	})
	// Hysteresis: the dominant speaker keeps the first place unless the
	// loudest is clearly louder or it fell silent.
	if len(st.current) > 0 && len(ranked) > 1 {
		for i, p := range ranked {
			if p.id == st.current[0] && i > 0 && next[ranked[0]] < next[p]*speakerMargin {
				ranked[0], ranked[i] = ranked[i], ranked[0]
				break
			}
		}
	}
	ids := make([]string, 0, min(len(ranked), maxSpeakers))
	for _, p := range ranked[:min(len(ranked), maxSpeakers)] {
		ids = append(ids, p.id)
	}
	if slices.Equal(ids, st.current) {
		return
	}
	st.current = ids
	if len(ids) > 0 {
		d := ids[0]
		st.dominant.Store(&d)
	} else {
		st.dominant.Store(nil)
	}
	for _, p := range members {
		p.emit(Event{Type: EventSpeakers, Speakers: append([]string{}, ids...)})
	}
}

// dominantSpeaker is the room's dominant speaker's id, or "".
func (r *Room) dominantSpeaker() string {
	if d := r.speakers.dominant.Load(); d != nil {
		return *d
	}
	return ""
}
