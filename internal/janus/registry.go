package janus

import (
	"crypto/rand"
	"encoding/binary"
	"slices"
	"strings"
	"sync"
	"time"
)

// feedWait is how long a feed of a roomsd participant waits for a second
// track before it is announced with the one it has: its audio and camera
// arrive together, but a participant may publish only one of them.
const feedWait = time.Second

// registry is what the Janus sessions of this node share: numeric ids,
// and per room who is there as a Janus client sees it (a presence id and
// display per participant) and the feeds (Janus publishers) their
// published tracks make.
type registry struct {
	mu    sync.Mutex
	ids   map[uint64]bool
	rooms map[string]*roomState
}

func newRegistry() *registry {
	return &registry{ids: map[uint64]bool{}, rooms: map[string]*roomState{}}
}

// newID returns a number no other session, handle, participant or feed
// of this node has: random, non-zero, below 2^53 (a JavaScript client
// keeps it exactly).
func (g *registry) newID() uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.newIDLocked()
}

func (g *registry) newIDLocked() uint64 {
	for {
		var b [8]byte
		_, _ = rand.Read(b[:])
		id := binary.BigEndian.Uint64(b[:]) & (1<<53 - 1)
		if id != 0 && !g.ids[id] {
			g.ids[id] = true
			return id
		}
	}
}

func (g *registry) freeIDLocked(id uint64) { delete(g.ids, id) }

// free gives ids back.
func (g *registry) free(ids ...uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, id := range ids {
		g.freeIDLocked(id)
	}
}

// roomState is one room's Janus view.
type roomState struct {
	id       string
	sessions map[*session]bool
	members  map[string]*member // by roomsd participant id
	feeds    map[uint64]*feed
	tracks   map[string]*feed // by track id
}

// member is a participant as Janus clients see it.
type member struct {
	pid     string // roomsd participant id
	presID  uint64 // its audiobridge id (the SDK's participant registry)
	display string // base64 JSON, as the SDK reads it
	// clientID is the SDK's own participant id (from its display), or the
	// roomsd id for participants of roomsd's protocol.
	clientID  string
	janus     bool // joined through this front
	context   string
	moderated bool // its audio is muted by the room's owner
	// selfMuted is what a roomsd participant turned off itself.
	selfMutedAudio, selfMutedVideo bool
}

// feed is a Janus publisher: a Janus client's published stream (one
// videoroom publisher handle), or a roomsd participant's audio and camera
// (key "self") or another video of theirs ("screen").
type feed struct {
	id     uint64
	owner  string // roomsd participant id
	stream string // the connection's stream name ("" for roomsd's own protocol)
	key    string // the SDK's stream key
	// streamID is the SDK's stream id (from its display), or one made up.
	streamID string
	display  string // base64 JSON; Janus clients: as they sent it
	audio    string // track ids, "" for none
	video    string
	// want is how many tracks the feed waits for before it is announced.
	want  int
	ready bool
	timer *time.Timer
}

// feedView is a feed as sessions read it, copied under the registry's
// lock.
type feedView struct {
	id           uint64
	owner        string
	display      string
	audio, video string
}

func (f *feed) view() feedView {
	return feedView{id: f.id, owner: f.owner, display: f.display, audio: f.audio, video: f.video}
}

func (f *feed) trackCount() int {
	n := 0
	for _, t := range []string{f.audio, f.video} {
		if t != "" {
			n++
		}
	}
	return n
}

// join adds a session to its room's state.
func (g *registry) join(s *session) {
	g.mu.Lock()
	defer g.mu.Unlock()
	r := g.rooms[s.roomID]
	if r == nil {
		r = &roomState{id: s.roomID, sessions: map[*session]bool{}, members: map[string]*member{}, feeds: map[uint64]*feed{},
			tracks: map[string]*feed{}}
		g.rooms[s.roomID] = r
	}
	r.sessions[s] = true
}

// leave drops a session; the room's state goes with its last session.
// Its ids are given back, and its participant is forgotten.
func (g *registry) leave(s *session, pid string, ids []uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, id := range ids {
		g.freeIDLocked(id)
	}
	r := g.rooms[s.roomID]
	if r == nil {
		return
	}
	if m := r.members[pid]; m != nil && m.janus {
		delete(r.members, pid)
	}
	delete(r.sessions, s)
	if len(r.sessions) > 0 {
		return
	}
	for id, f := range r.feeds {
		if f.timer != nil {
			f.timer.Stop()
		}
		g.freeIDLocked(id)
	}
	for _, m := range r.members {
		g.freeIDLocked(m.presID)
	}
	delete(g.rooms, s.roomID)
}

// addJanusMember registers a participant that joined through this front,
// before the media server tells anyone of it.
func (g *registry) addJanusMember(roomID string, m *member) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if r := g.rooms[roomID]; r != nil {
		m.janus = true
		r.members[m.pid] = m
	}
}

// memberOf returns a participant's member, made up for a participant of
// roomsd's own protocol the first time it is seen.
func (g *registry) memberOf(roomID, pid, context string) *member {
	g.mu.Lock()
	defer g.mu.Unlock()
	r := g.rooms[roomID]
	if r == nil {
		return nil
	}
	return g.memberLocked(r, pid, context)
}

func (g *registry) memberLocked(r *roomState, pid, context string) *member {
	if m := r.members[pid]; m != nil {
		return m
	}
	m := &member{pid: pid, presID: g.newIDLocked(), clientID: pid, context: context}
	m.display = encodeDisplay(display{ParticipantID: pid, External: context, CanReceiveMessages: true})
	r.members[pid] = m
	return m
}

// memberLeft forgets a participant of roomsd's protocol who left (Janus
// clients' members go with their sessions).
func (g *registry) dropMember(roomID, pid string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	r := g.rooms[roomID]
	if r == nil {
		return
	}
	if m := r.members[pid]; m != nil {
		delete(r.members, pid)
		g.freeIDLocked(m.presID)
	}
}

// setModerated records whether a participant's audio is muted by the
// room's owner.
func (g *registry) setModerated(roomID, pid string, muted bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if r := g.rooms[roomID]; r != nil {
		if m := r.members[pid]; m != nil {
			m.moderated = muted
		}
	}
}

// addJanusFeed registers a Janus client's publisher, which is announced
// once the tracks its offer sends have arrived.
func (g *registry) addJanusFeed(roomID string, f *feed) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if r := g.rooms[roomID]; r != nil {
		r.feeds[f.id] = f
	}
}

// removeFeed drops a feed (its publisher went away) and tells every
// session if it had been announced.
func (g *registry) removeFeed(roomID string, id uint64) {
	g.mu.Lock()
	r := g.rooms[roomID]
	if r == nil {
		g.mu.Unlock()
		return
	}
	f := r.feeds[id]
	if f == nil {
		g.mu.Unlock()
		return
	}
	g.dropFeedLocked(r, f)
	v := f.view()
	sessions := r.sessionList()
	g.mu.Unlock()
	for _, s := range sessions {
		s.feedGone(v)
	}
}

func (g *registry) dropFeedLocked(r *roomState, f *feed) {
	delete(r.feeds, f.id)
	for _, t := range []string{f.audio, f.video} {
		if r.tracks[t] == f {
			delete(r.tracks, t)
		}
	}
	if f.timer != nil {
		f.timer.Stop()
	}
	g.freeIDLocked(f.id)
}

func (r *roomState) sessionList() []*session {
	out := make([]*session, 0, len(r.sessions))
	for s := range r.sessions {
		out = append(out, s)
	}
	return out
}

// trackPublished files a published track into its feed and announces the
// feed to every session once it is complete. Every session reports every
// track; the first report counts.
func (g *registry) trackPublished(roomID, pid, trackID, kind, stream string, screen bool) {
	g.mu.Lock()
	r := g.rooms[roomID]
	if r == nil || r.tracks[trackID] != nil {
		g.mu.Unlock()
		return
	}
	var f *feed
	if stream != "" {
		// A Janus publisher's connection: its feed is registered already.
		for _, x := range r.feeds {
			if x.owner == pid && x.stream == stream {
				f = x
			}
		}
		if f == nil {
			g.mu.Unlock()
			return // its publisher is gone
		}
	} else {
		f = g.roomsdFeedLocked(r, pid, kind, screen)
	}
	if kind == "audio" {
		f.audio = trackID
	} else {
		f.video = trackID
	}
	r.tracks[trackID] = f
	announce := false
	switch {
	case f.ready:
		// A track joined a feed announced without it: announced again,
		// under a new id, so that subscribers get both.
		g.mu.Unlock()
		g.reannounce(roomID, f)
		return
	case f.trackCount() >= f.want:
		f.ready, announce = true, true
	case f.timer == nil && f.stream == "":
		f.timer = time.AfterFunc(feedWait, func() { g.feedTimeout(roomID, f) })
	}
	if f.stream == "" {
		// The display of a roomsd feed follows its tracks.
		f.display = g.roomsdFeedDisplayLocked(r, f)
	}
	v := f.view()
	sessions := r.sessionList()
	g.mu.Unlock()
	if announce {
		for _, s := range sessions {
			s.feedReady(v)
		}
	}
}

// roomsdFeedLocked is the feed a roomsd participant's new track goes in:
// audio and the first camera video share "self"; a screen, or a video
// beside one, has a feed of its own.
func (g *registry) roomsdFeedLocked(r *roomState, pid, kind string, screen bool) *feed {
	// Its member is there already: a session hears a participant join
	// before it hears of its tracks.
	g.memberLocked(r, pid, "")
	if !screen {
		for _, f := range r.feeds {
			if f.owner == pid && f.stream == "" && f.key == "self" && (kind == "audio" && f.audio == "" || kind == "video" && f.video == "") {
				return f
			}
		}
	}
	key := "self"
	if screen || kind == "video" && g.hasVideoLocked(r, pid) {
		key = "screen"
	}
	f := &feed{id: g.newIDLocked(), owner: pid, key: key, streamID: pid + "-" + key, want: 2}
	if key == "screen" {
		f.want = 1
	}
	r.feeds[f.id] = f
	return f
}

func (g *registry) hasVideoLocked(r *roomState, pid string) bool {
	for _, f := range r.feeds {
		if f.owner == pid && f.video != "" {
			return true
		}
	}
	return false
}

// roomsdFeedDisplayLocked writes a roomsd feed's display from its tracks
// and what its owner turned off.
func (g *registry) roomsdFeedDisplayLocked(r *roomState, f *feed) string {
	m := r.members[f.owner]
	audio, video := f.audio != "", f.video != ""
	if m != nil {
		audio = audio && !m.selfMutedAudio
		video = video && !m.selfMutedVideo
	}
	return encodeDisplay(display{ParticipantID: f.owner, Stream: &streamInfo{ID: f.streamID, Key: f.key, IsAudioEnabled: audio, IsVideoEnabled: video}})
}

// feedTimeout announces a roomsd feed that waited long enough for its
// second track.
func (g *registry) feedTimeout(roomID string, f *feed) {
	g.mu.Lock()
	r := g.rooms[roomID]
	if r == nil || r.feeds[f.id] != f || f.ready || f.trackCount() == 0 {
		g.mu.Unlock()
		return
	}
	f.ready = true
	v := f.view()
	sessions := r.sessionList()
	g.mu.Unlock()
	for _, s := range sessions {
		s.feedReady(v)
	}
}

// reannounce replaces a ready feed with a new one holding the same
// tracks: sessions hear that the old one went and the new one came.
func (g *registry) reannounce(roomID string, old *feed) {
	g.mu.Lock()
	r := g.rooms[roomID]
	if r == nil || r.feeds[old.id] != old {
		g.mu.Unlock()
		return
	}
	nf := g.successorLocked(r, old)
	ov, nv := old.view(), nf.view()
	sessions := r.sessionList()
	g.mu.Unlock()
	for _, s := range sessions {
		s.feedGone(ov)
		s.feedReady(nv)
	}
}

// successorLocked replaces a feed with a new one, announced, under a new
// id, holding the tracks the old one holds now; g.mu is held.
func (g *registry) successorLocked(r *roomState, old *feed) *feed {
	nf := &feed{id: g.newIDLocked(), owner: old.owner, stream: old.stream, key: old.key, streamID: old.streamID, audio: old.audio,
		video: old.video, want: old.want, ready: true, display: old.display}
	g.dropFeedLocked(r, old)
	r.feeds[nf.id] = nf
	for _, t := range []string{nf.audio, nf.video} {
		if t != "" {
			r.tracks[t] = nf
		}
	}
	if nf.stream == "" {
		nf.display = g.roomsdFeedDisplayLocked(r, nf)
	}
	return nf
}

// trackUnpublished takes a track out of its feed: the feed goes, and what
// is left of it (a roomsd participant's other track) is announced anew.
func (g *registry) trackUnpublished(roomID, trackID string) {
	g.mu.Lock()
	r := g.rooms[roomID]
	if r == nil || r.tracks[trackID] == nil {
		g.mu.Unlock()
		return
	}
	f := r.tracks[trackID]
	delete(r.tracks, trackID)
	if f.audio == trackID {
		f.audio = ""
	} else if f.video == trackID {
		f.video = ""
	}
	if f.stream != "" {
		// A Janus publisher's track ends with its connection: the feed
		// goes when its handle does.
		g.mu.Unlock()
		g.removeFeed(roomID, f.id)
		return
	}
	var nf *feed
	if f.trackCount() > 0 {
		nf = g.successorLocked(r, f)
	} else {
		g.dropFeedLocked(r, f)
	}
	wasReady := f.ready
	ov := f.view()
	var nv feedView
	if nf != nil {
		nv = nf.view()
	}
	sessions := r.sessionList()
	g.mu.Unlock()
	for _, s := range sessions {
		if wasReady {
			s.feedGone(ov)
		}
		if nf != nil {
			s.feedReady(nv)
		}
	}
}

// setDisplay records a feed's new display (a Janus client turned its
// microphone or camera off or on) and tells the other sessions.
func (g *registry) setDisplay(roomID string, id uint64, disp string) {
	g.mu.Lock()
	r := g.rooms[roomID]
	if r == nil || r.feeds[id] == nil || r.feeds[id].display == disp {
		g.mu.Unlock()
		return
	}
	f := r.feeds[id]
	f.display = disp
	ready := f.ready
	sessions := r.sessionList()
	g.mu.Unlock()
	if ready {
		for _, s := range sessions {
			s.feedDisplay(f.id, f.owner, disp)
		}
	}
}

// selfMuted records what a roomsd participant turned off itself and
// returns the new displays of its announced feeds that it changed.
func (g *registry) selfMuted(roomID, pid, kind string, muted bool) map[uint64]string {
	g.mu.Lock()
	defer g.mu.Unlock()
	r := g.rooms[roomID]
	if r == nil || r.members[pid] == nil || r.members[pid].janus {
		return nil
	}
	m := r.members[pid]
	if kind == "audio" {
		m.selfMutedAudio = muted
	} else {
		m.selfMutedVideo = muted
	}
	out := map[uint64]string{}
	for _, f := range r.feeds {
		if f.owner != pid {
			continue
		}
		disp := g.roomsdFeedDisplayLocked(r, f)
		if disp != f.display {
			f.display = disp
			if f.ready {
				out[f.id] = disp
			}
		}
	}
	return out
}

// readyFeeds lists the room's announced feeds.
func (g *registry) readyFeeds(roomID string) []feedView {
	g.mu.Lock()
	defer g.mu.Unlock()
	r := g.rooms[roomID]
	if r == nil {
		return nil
	}
	var out []feedView
	for _, f := range r.feeds {
		if f.ready {
			out = append(out, f.view())
		}
	}
	slices.SortFunc(out, func(a, b feedView) int { return strings.Compare(a.owner+a.display, b.owner+b.display) })
	return out
}

// feed returns a feed by id, if there is one.
func (g *registry) feed(roomID string, id uint64) (feedView, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if r := g.rooms[roomID]; r != nil {
		if f := r.feeds[id]; f != nil {
			return f.view(), true
		}
	}
	return feedView{}, false
}

// member returns a copy of a participant's member, or nil.
func (g *registry) member(roomID, pid string) *member {
	g.mu.Lock()
	defer g.mu.Unlock()
	if r := g.rooms[roomID]; r != nil {
		if m := r.members[pid]; m != nil {
			c := *m
			return &c
		}
	}
	return nil
}
