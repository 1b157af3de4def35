package api

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/rooms"
	"github.com/roomsd/roomsd/internal/store"
)

// --- client tokens

type tokensJSON struct {
	Token                 string `json:"token"`
	TokenExpiresAt        string `json:"token_expires_at"`
	RefreshToken          string `json:"refresh_token"`
	RefreshTokenExpiresAt string `json:"refresh_token_expires_at"`
}

type refreshedJSON struct {
	Token          string `json:"token"`
	TokenExpiresAt string `json:"token_expires_at"`
}

func optIntPtr(obj map[string]json.RawMessage, field string) (*int, error) {
	var o rooms.Opt[int]
	if err := optInt(obj, field, &o); err != nil || !o.Set {
		return nil, err
	}
	return &o.Value, nil
}

func (a *API) generateToken(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store") // the answer holds credentials
	id, err := pathID(r.PathValue("room_id"), "room_id")
	if err != nil {
		a.fail(w, r, err, "")
		return
	}
	obj, err := readObject(w, r)
	if err != nil {
		a.fail(w, r, err, "")
		return
	}
	tokenTTL, err := optIntPtr(obj, "token_ttl_secs")
	if err != nil {
		a.fail(w, r, err, "")
		return
	}
	refreshTTL, err := optIntPtr(obj, "refresh_token_ttl_secs")
	if err != nil {
		a.fail(w, r, err, "")
		return
	}
	t, err := a.rooms.IssueTokens(r.Context(), id, tokenTTL, refreshTTL)
	if err != nil {
		a.fail(w, r, err, noSuch("room", id))
		return
	}
	writeJSON(w, http.StatusCreated, dataBody{Data: tokensJSON{t.Token, ts(t.TokenExpiresAt), t.Refresh, ts(t.RefreshExpiresAt)}})
}

// refreshToken is public: the refresh token is the credential.
func (a *API) refreshToken(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store") // the answer holds a credential
	id, err := pathID(r.PathValue("room_id"), "room_id")
	if err != nil {
		a.fail(w, r, err, "")
		return
	}
	obj, err := readObject(w, r)
	if err != nil {
		a.fail(w, r, err, "")
		return
	}
	refresh, err := requiredString(obj, "refresh_token", "refresh_token is required: the refresh_token returned by generate_join_client_token.")
	if err != nil {
		a.fail(w, r, err, "")
		return
	}
	tokenTTL, err := optIntPtr(obj, "token_ttl_secs")
	if err != nil {
		a.fail(w, r, err, "")
		return
	}
	tok, exp, err := a.rooms.RefreshToken(r.Context(), id, refresh, tokenTTL)
	if err != nil {
		a.fail(w, r, err, "")
		return
	}
	writeJSON(w, http.StatusCreated, dataBody{Data: refreshedJSON{tok, ts(exp)}})
}

func (a *API) jwks(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Write(a.rooms.JWKS())
}

// --- recordings

type recordingJSON struct {
	ID            string   `json:"id"`
	RoomID        string   `json:"room_id"`
	SessionID     string   `json:"session_id"`
	ParticipantID string   `json:"participant_id"`
	Status        string   `json:"status"`
	Type          string   `json:"type"`
	Codec         string   `json:"codec"`
	SizeMB        *float64 `json:"size_mb"`
	DurationSecs  *int     `json:"duration_secs"`
	DownloadURL   *string  `json:"download_url"`
	CreatedAt     string   `json:"created_at"`
	UpdatedAt     string   `json:"updated_at"`
	StartedAt     string   `json:"started_at"`
	EndedAt       *string  `json:"ended_at"`
	CompletedAt   *string  `json:"completed_at"`
	RecordType    string   `json:"record_type"`
}

func toRecordingJSON(r domain.Recording) recordingJSON {
	return recordingJSON{
		ID: r.ID, RoomID: r.RoomID, SessionID: r.SessionID, ParticipantID: r.ParticipantID, Status: r.Status,
		Type: r.Type, Codec: r.Codec, SizeMB: r.SizeMB, DurationSecs: r.DurationSecs, DownloadURL: r.DownloadURL,
		CreatedAt: ts(r.CreatedAt), UpdatedAt: ts(r.UpdatedAt), StartedAt: ts(r.StartedAt),
		EndedAt: tsPtr(r.EndedAt), CompletedAt: tsPtr(r.CompletedAt), RecordType: "room_recording",
	}
}

func recordingFilter(q *query) store.RecordingFilter {
	return store.RecordingFilter{
		StartedAt:     q.dateRange("date_started_at"),
		EndedAt:       q.dateRange("date_ended_at"),
		RoomID:        q.id("filter[room_id]"),
		SessionID:     q.id("filter[session_id]"),
		ParticipantID: q.id("filter[participant_id]"),
		Status:        q.enum("filter[status]", domain.RecordingCompleted, domain.RecordingProcessing, domain.RecordingFailed),
		Type:          q.enum("filter[type]", domain.MediaAudio, domain.MediaVideo),
		DurationSecs:  q.intRange("duration_secs"),
	}
}

type bulkDeleteJSON struct {
	RoomRecordings int `json:"room_recordings"`
}

// deleteRecordings deletes every recording matching the filters, or, when
// page[size] or page[number] is given, only the recordings that the same
// GET would list on that page. It takes no parameter it does not know, and
// before deleting it checks that every filter given restricts the delete.
func (a *API) deleteRecordings(w http.ResponseWriter, r *http.Request) {
	q := newQuery(r)
	f := recordingFilter(q)
	var page *store.Page
	if p := q.page(); q.hasPage() {
		page = &p
	}
	q.strict()
	if q.err != nil {
		a.fail(w, r, q.err, "")
		return
	}
	applied := f.Conditions()
	for name := range q.values {
		field, ok := filterField(name)
		if !ok {
			continue
		}
		if !slices.Contains(applied, strings.TrimPrefix(field, "date_")) {
			a.fail(w, r, paramError(name, name+" does not narrow the delete; give a filter that selects the recordings to delete."), "")
			return
		}
	}
	n, err := a.rooms.DeleteRecordings(r.Context(), f, page)
	if err != nil {
		a.fail(w, r, err, "")
		return
	}
	writeJSON(w, http.StatusCreated, dataBody{Data: bulkDeleteJSON{RoomRecordings: n}})
}

// --- compositions

type regionJSON struct {
	XPos         *int     `json:"x_pos"`
	YPos         *int     `json:"y_pos"`
	ZPos         *int     `json:"z_pos"`
	Height       *int     `json:"height"`
	Width        *int     `json:"width"`
	MaxColumns   *int     `json:"max_columns"`
	MaxRows      *int     `json:"max_rows"`
	VideoSources []string `json:"video_sources"`
}

type compositionJSON struct {
	ID                      string                `json:"id"`
	RoomID                  string                `json:"room_id"`
	SessionID               string                `json:"session_id"`
	UserID                  *string               `json:"user_id"`
	Status                  string                `json:"status"`
	FailureReason           *string               `json:"failure_reason"`
	Format                  string                `json:"format"`
	Resolution              string                `json:"resolution"`
	SizeMB                  *float64              `json:"size_mb"`
	DurationSecs            *int                  `json:"duration_secs"`
	DownloadURL             *string               `json:"download_url"`
	VideoLayout             map[string]regionJSON `json:"video_layout"`
	WebhookEventURL         *string               `json:"webhook_event_url"`
	WebhookEventFailoverURL *string               `json:"webhook_event_failover_url"`
	WebhookTimeoutSecs      *int                  `json:"webhook_timeout_secs"`
	CreatedAt               string                `json:"created_at"`
	UpdatedAt               string                `json:"updated_at"`
	StartedAt               *string               `json:"started_at"`
	EndedAt                 *string               `json:"ended_at"`
	CompletedAt             *string               `json:"completed_at"`
	RecordType              string                `json:"record_type"`
}

func toCompositionJSON(c domain.Composition) compositionJSON {
	layout := make(map[string]regionJSON, len(c.VideoLayout))
	for k, v := range c.VideoLayout {
		rj := regionJSON(v)
		if rj.VideoSources == nil {
			rj.VideoSources = []string{}
		}
		layout[k] = rj
	}
	return compositionJSON{
		ID: c.ID, RoomID: c.RoomID, SessionID: c.SessionID, Status: c.Status, FailureReason: c.FailureReason,
		Format: c.Format, Resolution: c.Resolution,
		SizeMB: c.SizeMB, DurationSecs: c.DurationSecs, DownloadURL: c.DownloadURL, VideoLayout: layout,
		WebhookEventURL: c.WebhookEventURL, WebhookEventFailoverURL: c.WebhookEventFailoverURL, WebhookTimeoutSecs: c.WebhookTimeoutSecs,
		CreatedAt: ts(c.CreatedAt), UpdatedAt: ts(c.UpdatedAt), StartedAt: tsPtr(c.StartedAt),
		EndedAt: tsPtr(c.EndedAt), CompletedAt: tsPtr(c.CompletedAt), RecordType: "room_composition",
	}
}

// videoLayout decodes {"name": {region}, ...}, naming a bad field by pointer.
func videoLayout(obj map[string]json.RawMessage) (map[string]domain.VideoRegion, error) {
	raw, ok := obj["video_layout"]
	if !ok || isNull(raw) {
		return nil, nil
	}
	var regions map[string]map[string]json.RawMessage
	if json.Unmarshal(raw, &regions) != nil {
		return nil, typeError("video_layout", "an object mapping region names to regions")
	}
	out := make(map[string]domain.VideoRegion, len(regions))
	for _, name := range slices.Sorted(maps.Keys(regions)) {
		fields, at := regions[name], "video_layout/"+domain.PathStep(name)
		if fields == nil {
			return nil, typeError(at, "an object")
		}
		var reg domain.VideoRegion
		for _, f := range []struct {
			key string
			dst **int
		}{{"x_pos", &reg.XPos}, {"y_pos", &reg.YPos}, {"z_pos", &reg.ZPos}, {"height", &reg.Height},
			{"width", &reg.Width}, {"max_columns", &reg.MaxColumns}, {"max_rows", &reg.MaxRows}} {
			var o rooms.Opt[*int]
			if err := optNullInt(fields, f.key, &o); err != nil {
				return nil, typeError(at+"/"+f.key, "an integer or null")
			}
			*f.dst = o.Value
		}
		if src, ok := fields["video_sources"]; ok && !isNull(src) {
			if json.Unmarshal(src, &reg.VideoSources) != nil {
				return nil, typeError(at+"/video_sources", `a list of video recording ids or "*"`)
			}
		}
		out[name] = reg
	}
	return out, nil
}

func (a *API) createComposition(w http.ResponseWriter, r *http.Request) {
	obj, err := readObject(w, r)
	if err != nil {
		a.fail(w, r, err, "")
		return
	}
	var (
		req                         rooms.CompositionRequest
		session, format, resolution rooms.Opt[*string]
	)
	for _, e := range []error{
		optNullString(obj, "session_id", &session),
		optNullString(obj, "format", &format),
		optNullString(obj, "resolution", &resolution),
		optNullString(obj, "webhook_event_url", &req.Webhooks.WebhookEventURL),
		optNullString(obj, "webhook_event_failover_url", &req.Webhooks.WebhookEventFailoverURL),
		optNullInt(obj, "webhook_timeout_secs", &req.Webhooks.WebhookTimeoutSecs),
	} {
		if e != nil {
			a.fail(w, r, e, "")
			return
		}
	}
	req.SessionID, req.Format, req.Resolution = session.Value, format.Value, resolution.Value
	if req.SessionID != nil {
		id, err := canonicalID(*req.SessionID)
		if err != nil {
			a.fail(w, r, fieldError(codeBadRequest, "Invalid value", "session_id", fmt.Sprintf("session_id must be a UUID, got %q.", *req.SessionID)), "")
			return
		}
		req.SessionID = &id
	}
	if req.VideoLayout, err = videoLayout(obj); err != nil {
		a.fail(w, r, err, "")
		return
	}
	c, err := a.rooms.CreateComposition(r.Context(), req)
	if err != nil {
		a.fail(w, r, err, "")
		return
	}
	writeJSON(w, http.StatusAccepted, dataBody{Data: a.compositionJSON(c)})
}

func compositionFilter(q *query) store.CompositionFilter {
	return store.CompositionFilter{
		CreatedAt: q.dateRange("date_created_at"),
		SessionID: q.id("filter[session_id]"),
		Status: q.enum("filter[status]", domain.CompositionCompleted, domain.CompositionProcessing, domain.CompositionEnqueued,
			domain.CompositionFailed),
	}
}
