package api

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/rooms"
	"github.com/roomsd/roomsd/internal/store"
)

// listSessions serves GET /v2/room_sessions and, with a room in the path,
// GET /v2/rooms/{room_id}/sessions.
func (a *API) listSessions(w http.ResponseWriter, r *http.Request) {
	var p rooms.ListSessionsParams
	if raw := r.PathValue("room_id"); raw != "" {
		var err error
		if p.Room, err = pathID(raw, "room_id"); err != nil {
			a.fail(w, r, err, "")
			return
		}
	}
	q := newQuery(r)
	p.Filter = store.SessionFilter{
		CreatedAt: q.dateRange("date_created_at"),
		UpdatedAt: q.dateRange("date_updated_at"),
		EndedAt:   q.dateRange("date_ended_at"),
		Active:    q.optBool("filter[active]"),
	}
	if p.Room == "" {
		p.Filter.RoomID = q.id("filter[room_id]")
	}
	p.IncludeParticipants = q.bool("include_participants")
	p.Page = q.page()
	q.done()
	if q.err != nil {
		a.fail(w, r, q.err, "")
		return
	}
	views, total, err := a.rooms.ListSessions(r.Context(), p)
	if err != nil {
		a.fail(w, r, err, noSuch("room", p.Room))
		return
	}
	writeList(w, p.Page, total, views, toSessionJSON)
}

// listParticipants serves GET /v2/room_participants and, with a session in
// the path, GET /v2/room_sessions/{room_session_id}/participants.
func (a *API) listParticipants(w http.ResponseWriter, r *http.Request) {
	q := newQuery(r)
	var (
		f       store.ParticipantFilter
		session string
	)
	if raw := r.PathValue("room_session_id"); raw != "" {
		var err error
		if session, err = pathID(raw, "room_session_id"); err != nil {
			a.fail(w, r, err, "")
			return
		}
	} else {
		f.SessionID = q.id("filter[session_id]")
	}
	f.JoinedAt = q.dateRange("date_joined_at")
	f.UpdatedAt = q.dateRange("date_updated_at")
	f.LeftAt = q.dateRange("date_left_at")
	f.Context = q.optString("filter[context]")
	page := q.page()
	q.done()
	if q.err != nil {
		a.fail(w, r, q.err, "")
		return
	}
	parts, total, err := a.rooms.ListParticipants(r.Context(), session, f, page)
	if err != nil {
		a.fail(w, r, err, noSuch("room session", session))
		return
	}
	writeList(w, page, total, parts, toParticipantJSON)
}

type resultBody struct {
	Result string `json:"result"`
}

func ok(w http.ResponseWriter) {
	writeJSON(w, http.StatusOK, dataBody{Data: resultBody{Result: "ok"}})
}

// sessionAction serves POST /v2/room_sessions/{id}/actions/{action}.
func (a *API) sessionAction(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r.PathValue("room_session_id"), "room_session_id")
	if err != nil {
		a.fail(w, r, err, "")
		return
	}
	action := r.PathValue("action")
	switch action {
	case "end", "kick", "mute", "unmute":
	default:
		a.fail(w, r, notFound("No session action "+action+"; use end, kick, mute or unmute."), "")
		return
	}
	obj, err := readObject(w, r)
	if err != nil {
		a.fail(w, r, err, "")
		return
	}
	if action == "end" {
		if _, _, err := a.rooms.EndSession(r.Context(), id, domain.ReasonAPI); err != nil {
			a.fail(w, r, err, noSuch("room session", id))
			return
		}
		ok(w)
		return
	}
	sel, err := selection(obj, action)
	if err != nil {
		a.fail(w, r, err, "")
		return
	}
	switch action {
	case "kick":
		_, err = a.rooms.Kick(r.Context(), id, sel)
	case "mute":
		_, err = a.rooms.SetMuted(r.Context(), id, sel, true)
	case "unmute":
		_, err = a.rooms.SetMuted(r.Context(), id, sel, false)
	}
	if err != nil {
		a.fail(w, r, err, noSuch("room session", id))
		return
	}
	ok(w)
}

// selection decodes {"participants": "all" | [ids], "exclude": [ids]}.
// participants is optional, as in the Telnyx API: for mute and unmute a
// missing participants means everyone; for kick it means everyone only
// when exclude names whom to keep, since a kick with an empty body would
// otherwise disconnect the whole room by omission.
func selection(obj map[string]json.RawMessage, action string) (rooms.Selection, error) {
	var sel rooms.Selection
	if raw, present := obj["exclude"]; present && !isNull(raw) {
		ids, err := idList(raw, "exclude")
		if err != nil {
			return sel, err
		}
		sel.Exclude = ids
	}
	raw, present := obj["participants"]
	if !present || isNull(raw) {
		if action == "kick" && len(sel.Exclude) == 0 {
			return sel, fieldError(codeMissingParameter, "Missing required parameter", "participants",
				`kick needs participants: "all" or a list of participant ids (or exclude, to kick everyone else).`)
		}
		sel.All = true
		return sel, nil
	}
	var all string
	if json.Unmarshal(raw, &all) == nil {
		if all != "all" {
			return sel, fieldError(codeBadRequest, "Invalid value", "participants",
				fmt.Sprintf(`participants must be "all" or a list of participant ids, got %q.`, all))
		}
		sel.All = true
	} else {
		ids, err := idList(raw, "participants")
		if err != nil {
			return sel, err
		}
		if len(ids) == 0 {
			return sel, fieldError(codeBadRequest, "Invalid value", "participants",
				`participants must name at least one participant, or be "all".`)
		}
		sel.IDs = ids
	}
	return sel, nil
}

// idList decodes a JSON array of UUID strings, naming a bad element by index.
func idList(raw json.RawMessage, field string) ([]string, error) {
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		return nil, typeError(field, "a list of participant ids")
	}
	ids := make([]string, len(items))
	for i, it := range items {
		var s string
		at := fmt.Sprintf("%s/%d", field, i)
		if json.Unmarshal(it, &s) != nil {
			return nil, typeError(at, "a participant id (a UUID string)")
		}
		id, err := canonicalID(s)
		if err != nil {
			return nil, fieldError(codeBadRequest, "Invalid value", at, fmt.Sprintf("%s must be a participant id (a UUID), got %q.", at, s))
		}
		ids[i] = id
	}
	return ids, nil
}
