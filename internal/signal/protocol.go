// Package signal is the WebSocket signaling endpoint through which a
// participant joins a room with a client token, negotiates its
// PeerConnection with the media server and hears what happens in the room.
// docs/signaling.md describes the protocol.
package signal

import "github.com/pion/webrtc/v4"

// Message is every message of the protocol, both directions; Type says
// which fields matter.
type Message struct {
	Type string `json:"type"`

	// join (client)
	Token   string `json:"token,omitempty"`
	Context string `json:"context,omitempty"`
	// Resume, on join, reattaches a participant whose connection dropped
	// less than the grace period ago.
	Resume string `json:"resume,omitempty"`
	// ResumeToken, sent in joined, must come with a resume: only the
	// socket that joined can hand the participant on.
	ResumeToken string `json:"resume_token,omitempty"`

	// offer, answer
	SDP string `json:"sdp,omitempty"`
	// candidate
	Candidate *webrtc.ICECandidateInit `json:"candidate,omitempty"`

	// joined and server events
	RoomID        string             `json:"room_id,omitempty"`
	SessionID     string             `json:"session_id,omitempty"`
	ParticipantID string             `json:"participant_id,omitempty"`
	TrackID       string             `json:"track_id,omitempty"`
	StreamID      string             `json:"stream_id,omitempty"`
	Kind          string             `json:"kind,omitempty"`
	Reason        string             `json:"reason,omitempty"`
	ICEServers    []webrtc.ICEServer `json:"ice_servers,omitempty"`
	// Participants, in state, is everyone else in the room (an empty
	// list when nobody else is there).
	Participants *[]Member `json:"participants,omitempty"`
	// Speakers, in speakers, are the participant ids of who speaks now,
	// the dominant speaker first ([] when nobody does).
	Speakers *[]string `json:"speakers,omitempty"`

	// track_settings (client): what the client asks of one remote video.
	// Visible false stops it; Width and Height are the size it is shown
	// at, in device pixels; Quality pins a layer (auto, low, medium, high).
	Visible *bool  `json:"visible,omitempty"`
	Width   int    `json:"width,omitempty"`
	Height  int    `json:"height,omitempty"`
	Quality string `json:"quality,omitempty"`

	// redirect: the signaling URL to join at instead.
	URL string `json:"url,omitempty"`

	// self_mute (client) and self_muted (server): Kind audio or video,
	// turned off (true) or on.
	Muted *bool `json:"muted,omitempty"`
	// chat: the message; SentAt (server) when the server relayed it.
	Text   string `json:"text,omitempty"`
	SentAt string `json:"sent_at,omitempty"`

	// error
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
}

// Member is one entry of a state message: someone else in the room.
type Member struct {
	ParticipantID string `json:"participant_id"`
	Context       string `json:"context"`
	Muted         bool   `json:"muted"`
	// Reconnecting: its connection dropped and it may come back.
	Reconnecting bool `json:"reconnecting"`
	// SelfMutedAudio and SelfMutedVideo: it turned its microphone or its
	// camera off itself. ScreenTrackID is its screen share, if any.
	SelfMutedAudio bool    `json:"self_muted_audio"`
	SelfMutedVideo bool    `json:"self_muted_video"`
	ScreenTrackID  string  `json:"screen_track_id,omitempty"`
	Tracks         []Track `json:"tracks"`
}

// Track is a track a member publishes.
type Track struct {
	TrackID  string `json:"track_id"`
	StreamID string `json:"stream_id"`
	Kind     string `json:"kind"`
}

// Client message types.
const (
	TypeJoin      = "join"
	TypeOffer     = "offer"
	TypeAnswer    = "answer"
	TypeCandidate = "candidate"
	TypeLeave     = "leave"
	TypePing      = "ping"
	// TypeTrackSettings says how a remote video is shown.
	TypeTrackSettings = "track_settings"
	// TypeSelfMute: the client turned its microphone or camera off or on.
	TypeSelfMute = "self_mute"
	// TypeScreenShare: which of the client's video tracks is a screen.
	TypeScreenShare = "screen_share"
	// TypeChat: a chat message to the room (also what the server relays).
	TypeChat = "chat"
)

// maxVideoSide bounds width and height in track_settings.
const maxVideoSide = 16384

// Server message types beyond the sfu events, which keep their names.
const (
	TypeJoined       = "joined"
	TypeState        = "state"
	TypePong         = "pong"
	TypeError        = "error"
	TypeKicked       = "kicked"
	TypeSessionEnded = "session_ended"
	TypeClosed       = "closed"
	// TypeRedirect: the room's live session is served by another node
	// of the cluster; join again at URL.
	TypeRedirect = "redirect"
)

// Error codes.
const (
	CodeBadMessage   = "bad_message"
	CodeUnknownType  = "unknown_type"
	CodeUnauthorized = "unauthorized"
	CodeRoomFull     = "room_full"
	CodeNotFound     = "not_found"
	CodeNotJoined    = "not_joined"
	CodeJoinTimeout  = "join_timeout"
	CodeNegotiation  = "negotiation_failed"
	CodeUnavailable  = "unavailable"
	// CodeKicked: the token or meeting link was used by someone kicked
	// from the room a short while ago.
	CodeKicked = "kicked"
	// CodeRateLimited: chat messages sent faster than the server relays.
	CodeRateLimited = "rate_limited"
)
