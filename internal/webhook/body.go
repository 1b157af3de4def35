// Package webhook delivers room events from the durable outbox to each
// room's webhook URL: signed (Telnyx's Ed25519 scheme and, with a secret,
// Standard Webhooks), with the room's timeout, failing over to the
// failover URL, retrying with backoff, in order per room, at least once.
package webhook

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/roomsd/roomsd/internal/domain"
)

const timeLayout = "2006-01-02T15:04:05.000000Z"

type envelope struct {
	Data eventJSON `json:"data"`
	Meta metaJSON  `json:"meta"`
}

type eventJSON struct {
	RecordType string         `json:"record_type"`
	EventType  string         `json:"event_type"`
	ID         string         `json:"id"`
	OccurredAt string         `json:"occurred_at"`
	Payload    map[string]any `json:"payload"`
}

type metaJSON struct {
	Attempt     int    `json:"attempt"`
	DeliveredTo string `json:"delivered_to"`
}

// payload is the event's payload in the shape Telnyx documents for its type.
func payload(e domain.Event) map[string]any {
	p := map[string]any{"room_id": e.RoomID, "session_id": e.SessionID}
	switch e.Type {
	case domain.EventSessionEnded:
		p["duration_secs"], p["ended_reason"] = deref(e.DurationSecs), e.Reason
	case domain.EventParticipantJoined:
		p["participant_id"], p["context"] = e.ParticipantID, e.Context
	case domain.EventParticipantLeft:
		p["participant_id"], p["context"] = e.ParticipantID, e.Context
		p["duration_secs"], p["left_reason"] = deref(e.DurationSecs), e.Reason
	case domain.EventRecordingStarted:
		p["participant_id"], p["recording_id"], p["type"] = e.ParticipantID, e.RecordingID, e.MediaType
	case domain.EventRecordingCompleted:
		p["participant_id"], p["recording_id"], p["type"] = e.ParticipantID, e.RecordingID, e.MediaType
		p["size_mb"], p["download_url"], p["codec"], p["duration_secs"] = deref(e.SizeMB), e.DownloadURL, e.Codec, deref(e.DurationSecs)
	case domain.EventCompositionCompleted:
		p["composition_id"], p["download_url"], p["duration_secs"] = e.CompositionID, e.DownloadURL, deref(e.DurationSecs)
		p["format"], p["resolution"], p["size_mb"] = e.Format, e.Resolution, deref(e.SizeMB)
	}
	return p
}

// deref is *p, or the zero value for nil.
func deref[T any](p *T) T {
	var v T
	if p != nil {
		v = *p
	}
	return v
}

// Body encodes one delivery attempt of an event to one URL.
func Body(e domain.Event, attempt int, to string) ([]byte, error) {
	return json.Marshal(envelope{
		Data: eventJSON{RecordType: "event", EventType: e.Type, ID: e.ID, OccurredAt: e.OccurredAt.UTC().Format(timeLayout), Payload: payload(e)},
		Meta: metaJSON{Attempt: attempt, DeliveredTo: to},
	})
}

// Signer signs requests.
type Signer struct {
	key    ed25519.PrivateKey
	secret []byte
}

// NewSigner signs with key (Telnyx headers) and, when secret is not nil,
// with the Standard Webhooks HMAC as well.
func NewSigner(key ed25519.PrivateKey, secret []byte) *Signer {
	return &Signer{key: key, secret: secret}
}

// PublicKey is the base64 Ed25519 public key receivers verify with.
func (s *Signer) PublicKey() string {
	return base64.StdEncoding.EncodeToString(s.key.Public().(ed25519.PublicKey))
}

// Headers returns the signature headers for body, sent at now.
func (s *Signer) Headers(eventID string, body []byte, now time.Time) map[string]string {
	ts := strconv.FormatInt(now.Unix(), 10)
	h := map[string]string{
		"telnyx-timestamp":         ts,
		"telnyx-signature-ed25519": base64.StdEncoding.EncodeToString(ed25519.Sign(s.key, append([]byte(ts+"|"), body...))),
	}
	if s.secret != nil {
		mac := hmac.New(sha256.New, s.secret)
		mac.Write([]byte(eventID + "." + ts + "."))
		mac.Write(body)
		h["webhook-id"] = eventID
		h["webhook-timestamp"] = ts
		h["webhook-signature"] = "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	}
	return h
}

// ParseSecret reads a Standard Webhooks secret: "whsec_" and base64.
func ParseSecret(s string) ([]byte, error) {
	raw, ok := strings.CutPrefix(s, "whsec_")
	if !ok {
		return nil, errors.New(`the secret must look like "whsec_" followed by base64, e.g. whsec_` + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef")))
	}
	key, err := base64.StdEncoding.DecodeString(raw)
	if err != nil || len(key) < 16 {
		return nil, errors.New("the part after whsec_ must be base64 of at least 16 bytes")
	}
	return key, nil
}
