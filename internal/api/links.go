package api

import (
	"errors"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/rooms"
)

// Meeting links are roomsd's own addition, outside the Telnyx API (which
// is left unchanged): they live under /roomsd/, not /v2/.

type linkJSON struct {
	RecordType string  `json:"record_type"`
	ID         string  `json:"id"`
	RoomID     string  `json:"room_id"`
	Name       string  `json:"name"`
	URL        *string `json:"url,omitempty"` // only when created: the secret is not kept
	CreatedAt  string  `json:"created_at"`
	ExpiresAt  string  `json:"expires_at"`
	RevokedAt  *string `json:"revoked_at"`
}

func toLinkJSON(l domain.Link) linkJSON {
	j := linkJSON{RecordType: "meeting_link", ID: l.ID, RoomID: l.RoomID, Name: l.Name, CreatedAt: ts(l.CreatedAt), ExpiresAt: ts(l.ExpiresAt)}
	if l.RevokedAt != nil {
		r := ts(*l.RevokedAt)
		j.RevokedAt = &r
	}
	return j
}

// onlyFields refuses a body field outside allowed.
func onlyFields(obj map[string]any, allowed ...string) error {
	var extra []string
	for k := range obj {
		if !slices.Contains(allowed, k) {
			extra = append(extra, k)
		}
	}
	if len(extra) == 0 {
		return nil
	}
	sort.Strings(extra)
	return fieldError(codeBadRequest, "Unknown field", extra[0], extra[0]+" is not a field of this request; the fields are "+
		strings.Join(allowed, ", ")+".")
}

func (a *API) createLink(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store") // the answer holds the link's secret
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
	keys := map[string]any{}
	for k := range obj {
		keys[k] = nil
	}
	var name rooms.Opt[*string]
	var ttl rooms.Opt[int]
	tokenTTL, err := optIntPtr(obj, "token_ttl_secs")
	for _, err := range []error{onlyFields(keys, "name", "ttl_secs", "token_ttl_secs"), optNullString(obj, "name", &name),
		optInt(obj, "ttl_secs", &ttl), err} {
		if err != nil {
			a.fail(w, r, err, "")
			return
		}
	}
	who := ""
	if name.Set && name.Value != nil {
		who = *name.Value
	}
	life := time.Duration(0)
	if ttl.Set {
		if ttl.Value <= 0 {
			a.fail(w, r, fieldError(codeBadRequest, "Invalid value", "ttl_secs", "ttl_secs must be a positive number of seconds."), "")
			return
		}
		life = time.Duration(ttl.Value) * time.Second
	}
	l, secret, err := a.rooms.CreateLink(r.Context(), id, who, life, tokenTTL)
	if err != nil {
		a.fail(w, r, err, noSuch("room", id))
		return
	}
	j := toLinkJSON(l)
	u := a.publicURL + "/join#link=" + secret
	j.URL = &u
	writeJSON(w, http.StatusCreated, dataBody{Data: j})
}

func (a *API) listLinks(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r.PathValue("room_id"), "room_id")
	if err != nil {
		a.fail(w, r, err, "")
		return
	}
	ls, err := a.rooms.ListLinks(r.Context(), id)
	if err != nil {
		a.fail(w, r, err, noSuch("room", id))
		return
	}
	data := make([]linkJSON, len(ls))
	for i, l := range ls {
		data[i] = toLinkJSON(l)
	}
	writeJSON(w, http.StatusOK, dataBody{Data: data})
}

func (a *API) revokeLink(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r.PathValue("link_id"), "link_id")
	if err != nil {
		a.fail(w, r, err, "")
		return
	}
	l, err := a.rooms.RevokeLink(r.Context(), id)
	if err != nil {
		a.fail(w, r, err, noSuch("meeting link", id))
		return
	}
	writeJSON(w, http.StatusOK, dataBody{Data: toLinkJSON(l)})
}

type openedJSON struct {
	RecordType            string `json:"record_type"`
	RoomID                string `json:"room_id"`
	Name                  string `json:"name"`
	Token                 string `json:"token"`
	TokenExpiresAt        string `json:"token_expires_at"`
	RefreshToken          string `json:"refresh_token"`
	RefreshTokenExpiresAt string `json:"refresh_token_expires_at"`
	LinkExpiresAt         string `json:"link_expires_at"`
}

// openLink is public: the link's secret is the credential. The meeting
// page calls it each time a link is opened.
func (a *API) openLink(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store") // the answer holds credentials
	obj, err := readObject(w, r)
	if err != nil {
		a.fail(w, r, err, "")
		return
	}
	link, err := requiredString(obj, "link", "link is required: the part after #link= in the meeting link.")
	if err != nil {
		a.fail(w, r, err, "")
		return
	}
	o, err := a.rooms.OpenLink(r.Context(), link)
	switch {
	case errors.Is(err, rooms.ErrLinkExpired):
		a.fail(w, r, newError(http.StatusForbidden, codeForbidden, "Link expired",
			"This meeting link expired at "+ts(o.Link.ExpiresAt)+"; ask whoever sent it for a new one."), "")
		return
	case errors.Is(err, rooms.ErrLinkRevoked):
		a.fail(w, r, newError(http.StatusForbidden, codeForbidden, "Link revoked",
			"This meeting link was revoked; ask whoever sent it for a new one."), "")
		return
	case err != nil:
		a.fail(w, r, err, "No such meeting link, or its room no longer exists; check that the whole link was copied.")
		return
	}
	t := o.Tokens
	writeJSON(w, http.StatusCreated, dataBody{Data: openedJSON{RecordType: "meeting_link_tokens", RoomID: o.Link.RoomID, Name: o.Link.Name,
		Token: t.Token, TokenExpiresAt: ts(t.TokenExpiresAt), RefreshToken: t.Refresh, RefreshTokenExpiresAt: ts(t.RefreshExpiresAt),
		LinkExpiresAt: ts(o.Link.ExpiresAt)}})
}
