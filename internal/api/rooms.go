package api

import (
	"net/http"

	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/rooms"
	"github.com/roomsd/roomsd/internal/store"
)

// roomJSON is a room on the wire. Every field is always present; a value
// the room does not have is null. sessions appears only when asked for.
type roomJSON struct {
	ID                      string         `json:"id"`
	MaxParticipants         int            `json:"max_participants"`
	UniqueName              *string        `json:"unique_name"`
	CreatedAt               string         `json:"created_at"`
	UpdatedAt               string         `json:"updated_at"`
	ActiveSessionID         *string        `json:"active_session_id"`
	EnableRecording         bool           `json:"enable_recording"`
	WebhookEventFailoverURL *string        `json:"webhook_event_failover_url"`
	WebhookTimeoutSecs      *int           `json:"webhook_timeout_secs"`
	WebhookEventURL         *string        `json:"webhook_event_url"`
	Sessions                *[]sessionJSON `json:"sessions,omitempty"`
	RecordType              string         `json:"record_type"`
}

type sessionJSON struct {
	ID           string             `json:"id"`
	RoomID       string             `json:"room_id"`
	Active       bool               `json:"active"`
	CreatedAt    string             `json:"created_at"`
	UpdatedAt    string             `json:"updated_at"`
	EndedAt      *string            `json:"ended_at"`
	Participants *[]participantJSON `json:"participants,omitempty"`
	RecordType   string             `json:"record_type"`
}

type participantJSON struct {
	ID         string  `json:"id"`
	SessionID  string  `json:"session_id"`
	Context    string  `json:"context"`
	JoinedAt   string  `json:"joined_at"`
	UpdatedAt  string  `json:"updated_at"`
	LeftAt     *string `json:"left_at"`
	RecordType string  `json:"record_type"`
}

func toRoomJSON(v rooms.RoomView) roomJSON {
	out := roomJSON{
		ID:                      v.ID,
		MaxParticipants:         v.MaxParticipants,
		UniqueName:              v.UniqueName,
		CreatedAt:               ts(v.CreatedAt),
		UpdatedAt:               ts(v.UpdatedAt),
		ActiveSessionID:         v.ActiveSessionID,
		EnableRecording:         v.EnableRecording,
		WebhookEventFailoverURL: v.WebhookEventFailoverURL,
		WebhookTimeoutSecs:      v.WebhookTimeoutSecs,
		WebhookEventURL:         v.WebhookEventURL,
		RecordType:              "room",
	}
	if v.Sessions != nil {
		ss := make([]sessionJSON, len(v.Sessions))
		for i, s := range v.Sessions {
			ss[i] = toSessionJSON(s)
		}
		out.Sessions = &ss
	}
	return out
}

func toSessionJSON(v rooms.SessionView) sessionJSON {
	out := sessionJSON{
		ID:         v.ID,
		RoomID:     v.RoomID,
		Active:     v.Active,
		CreatedAt:  ts(v.CreatedAt),
		UpdatedAt:  ts(v.UpdatedAt),
		EndedAt:    tsPtr(v.EndedAt),
		RecordType: "room_session",
	}
	if v.Participants != nil {
		ps := make([]participantJSON, len(v.Participants))
		for i, p := range v.Participants {
			ps[i] = toParticipantJSON(p)
		}
		out.Participants = &ps
	}
	return out
}

func toParticipantJSON(p domain.Participant) participantJSON {
	return participantJSON{
		ID:         p.ID,
		SessionID:  p.SessionID,
		Context:    p.Context,
		JoinedAt:   ts(p.JoinedAt),
		UpdatedAt:  ts(p.UpdatedAt),
		LeftAt:     tsPtr(p.LeftAt),
		RecordType: "room_participant",
	}
}

type dataBody struct {
	Data any `json:"data"`
}

type listBody struct {
	Data any      `json:"data"`
	Meta pageMeta `json:"meta"`
}

// readRoomChanges reads the writable room fields of a create or update body.
func readRoomChanges(w http.ResponseWriter, r *http.Request) (rooms.RoomChanges, error) {
	var c rooms.RoomChanges
	obj, err := readObject(w, r)
	if err != nil {
		return c, err
	}
	for _, err := range []error{
		optNullString(obj, "unique_name", &c.UniqueName),
		optInt(obj, "max_participants", &c.MaxParticipants),
		optBool(obj, "enable_recording", &c.EnableRecording),
		optNullString(obj, "webhook_event_url", &c.WebhookEventURL),
		optNullString(obj, "webhook_event_failover_url", &c.WebhookEventFailoverURL),
		optNullInt(obj, "webhook_timeout_secs", &c.WebhookTimeoutSecs),
	} {
		if err != nil {
			return c, err
		}
	}
	return c, nil
}

func (a *API) listRooms(w http.ResponseWriter, r *http.Request) {
	q := newQuery(r)
	p := rooms.ListRoomsParams{
		Filter: store.RoomFilter{
			CreatedAt:  q.dateRange("date_created_at"),
			UpdatedAt:  q.dateRange("date_updated_at"),
			UniqueName: q.optString("filter[unique_name]"),
		},
		IncludeSessions: q.bool("include_sessions"),
		Page:            q.page(),
	}
	q.done()
	if q.err != nil {
		a.fail(w, r, q.err, "")
		return
	}
	views, total, err := a.rooms.ListRooms(r.Context(), p)
	if err != nil {
		a.fail(w, r, err, "")
		return
	}
	writeList(w, p.Page, total, views, toRoomJSON)
}

func (a *API) createRoom(w http.ResponseWriter, r *http.Request) {
	c, err := readRoomChanges(w, r)
	if err != nil {
		a.fail(w, r, err, "")
		return
	}
	room, err := a.rooms.CreateRoom(r.Context(), c)
	if err != nil {
		a.fail(w, r, err, "")
		return
	}
	writeJSON(w, http.StatusCreated, dataBody{Data: toRoomJSON(rooms.RoomView{Room: room})})
}

func (a *API) updateRoom(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r.PathValue("room_id"), "room_id")
	if err != nil {
		a.fail(w, r, err, "")
		return
	}
	c, err := readRoomChanges(w, r)
	if err != nil {
		a.fail(w, r, err, "")
		return
	}
	room, err := a.rooms.UpdateRoom(r.Context(), id, c)
	if err != nil {
		a.fail(w, r, err, noSuch("room", id))
		return
	}
	writeJSON(w, http.StatusOK, dataBody{Data: toRoomJSON(rooms.RoomView{Room: room})})
}
