package sfu

import (
	"sync"
	"time"
)

// Room is the live part of one room: who is connected and what they
// publish.
type Room struct {
	id string
	m  *Manager

	mu         sync.Mutex
	members    map[string]*Participant
	emptyTimer *time.Timer
	emptyGen   int // which arming of emptyTimer is current

	// joining counts joins under way into this room (guarded by the
	// Manager's lock): a room someone is joining is not empty, so the
	// empty-room timer neither drops it nor ends its session under them.
	joining int

	speakers speakerState
	stop     chan struct{} // closed when the room is dropped
}

func (r *Room) snapshot() []*Participant {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.membersLocked()
}

// membersLocked lists the members; r.mu is held.
func (r *Room) membersLocked() []*Participant {
	out := make([]*Participant, 0, len(r.members))
	for _, p := range r.members {
		out = append(out, p)
	}
	return out
}

func (r *Room) empty() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.members) == 0
}

// admit makes p a member unless it is already closed, and returns who
// else is there. The Manager's lock is held (lock order: Manager, Room,
// Participant).
func (r *Room) admit(p *Participant) ([]*Participant, bool) {
	if p.isClosed() {
		return nil, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopTimerLocked()
	others := r.membersLocked()
	r.members[p.id] = p
	return others, true
}

// welcome tells p who is there and gives it their tracks, and tells the
// others of p.
func (r *Room) welcome(p *Participant, others []*Participant) {
	subscribed := false
	for _, o := range others {
		if o.isClosed() {
			continue // left meanwhile; its participant_left is on its way
		}
		p.emit(Event{Type: EventParticipantJoined, ParticipantID: o.id, Context: o.context})
		if o.muted.Load() {
			p.emit(Event{Type: EventMuted, ParticipantID: o.id})
		}
		if o.away.Load() {
			p.emit(Event{Type: EventReconnecting, ParticipantID: o.id})
		}
		for kind, muted := range map[string]bool{"audio": o.selfMutedAudio.Load(), "video": o.selfMutedVideo.Load()} {
			if muted {
				p.emit(Event{Type: EventSelfMuted, ParticipantID: o.id, Kind: kind, Muted: true})
			}
		}
		if s := o.screenTrack(); s != "" {
			p.emit(Event{Type: EventScreenShare, ParticipantID: o.id, TrackID: s})
		}
		o.emit(Event{Type: EventParticipantJoined, ParticipantID: p.id, Context: p.context})
		for _, t := range o.published() {
			p.emit(Event{Type: EventTrackPublished, ParticipantID: o.id, TrackID: t.id, Kind: t.kind.String(), Stream: t.stream})
			if p.policy == SubscribeAll && p.conn != nil && p.conn.subscribe(t) {
				subscribed = true
			}
		}
		if o.isClosed() {
			p.unsubscribeFrom(o) // it left while we subscribed
		}
	}
	if subscribed {
		p.conn.negotiate()
	}
}

// armLocked starts the empty-room timer if the room has nobody in it and
// none is running; r.mu is held. When it fires, OnEmpty runs only if the
// room is then dropped: a join since then, or under way, keeps it.
func (r *Room) armLocked() {
	if len(r.members) > 0 || r.emptyTimer != nil || r.m.cfg.OnEmpty == nil {
		return
	}
	r.emptyGen++
	gen := r.emptyGen
	r.emptyTimer = time.AfterFunc(r.m.cfg.EmptyTimeout, func() { r.emptyTimerFired(gen) })
}

// emptyTimerFired drops the room and reports it to OnEmpty, unless someone
// joined or is joining it: then, if the room is still empty and still the
// registered one (a join under way may yet fail), it looks again after
// another EmptyTimeout.
func (r *Room) emptyTimerFired(gen int) {
	if r.m.dropRoomIfEmpty(r) {
		r.m.cfg.OnEmpty(r.id)
		return
	}
	r.m.mu.Lock()
	registered := r.m.rooms[r.id] == r && !r.m.closed
	r.m.mu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.emptyTimer != nil && r.emptyGen == gen { // not stopped or replaced meanwhile
		r.emptyTimer = nil
		if registered {
			r.armLocked()
		}
	}
}

// joinFailed ends a join into r that did not make it in.
func (r *Room) joinFailed() {
	r.m.mu.Lock()
	r.joining--
	r.m.mu.Unlock()
	r.settle()
}

// settle looks after a room that a join left without its newcomer: if it
// is empty, it gets its empty-room timer (or, without OnEmpty, is
// dropped).
func (r *Room) settle() {
	r.mu.Lock()
	r.armLocked()
	r.mu.Unlock()
	if r.m.cfg.OnEmpty == nil {
		r.m.dropRoomIfEmpty(r)
	}
}

func (r *Room) stopTimer() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopTimerLocked()
}

// stopTimerLocked cancels a pending empty-room timer; r.mu is held.
func (r *Room) stopTimerLocked() {
	if r.emptyTimer != nil {
		r.emptyTimer.Stop()
		r.emptyTimer = nil
	}
}

// remove drops p; the others stop receiving its tracks and hear it left.
// When the room becomes empty, OnEmpty runs after EmptyTimeout unless
// someone joins first.
func (r *Room) remove(p *Participant, reason string) {
	r.mu.Lock()
	if r.members[p.id] != p {
		r.mu.Unlock()
		return
	}
	delete(r.members, p.id)
	others := r.membersLocked()
	r.armLocked()
	r.mu.Unlock()
	for _, o := range others {
		o.unsubscribeFrom(p)
		o.emit(Event{Type: EventParticipantLeft, ParticipantID: p.id, Reason: reason})
	}
	if len(others) == 0 && r.m.cfg.OnEmpty == nil {
		r.m.dropRoomIfEmpty(r)
	}
}

// publish forwards a new track of p to everyone else.
func (r *Room) publish(p *Participant, t *track) {
	for _, o := range r.snapshot() {
		if o == p {
			continue
		}
		o.emit(Event{Type: EventTrackPublished, ParticipantID: p.id, TrackID: t.id, Kind: t.kind.String(), Stream: t.stream})
		if o.policy != SubscribeAll || o.conn == nil || !o.conn.subscribe(t) {
			continue
		}
		if p.isClosed() {
			o.conn.unsubscribe(t) // the publisher left while we subscribed
		}
		o.conn.negotiate()
	}
}

// track finds a published track of the room by id; nil if none.
func (r *Room) track(id string) *track {
	for _, o := range r.snapshot() {
		for _, t := range o.published() {
			if t.id == id {
				return t
			}
		}
	}
	return nil
}

// published lists the tracks published in the room.
func (r *Room) published() []PublishedTrack {
	var out []PublishedTrack
	for _, o := range r.snapshot() {
		for _, t := range o.published() {
			out = append(out, t.describe())
		}
	}
	return out
}

// broadcast sends ev to every member.
func (r *Room) broadcast(ev Event) {
	for _, o := range r.snapshot() {
		o.emit(ev)
	}
}
