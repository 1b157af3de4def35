package janus

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
)

// Plugin names, as clients attach them.
const (
	pluginVideoRoom   = "janus.plugin.videoroom"
	pluginAudioBridge = "janus.plugin.audiobridge"
	pluginTextRoom    = "janus.plugin.textroom"
)

// in is a message from the client.
type in struct {
	Janus       string          `json:"janus"`
	Transaction string          `json:"transaction"`
	SessionID   uint64          `json:"session_id"`
	HandleID    uint64          `json:"handle_id"`
	Plugin      string          `json:"plugin"`
	ClientToken string          `json:"client_token"`
	Body        json.RawMessage `json:"body"`
	JSEP        *jsep           `json:"jsep"`
	Candidate   json.RawMessage `json:"candidate"`
	Candidates  json.RawMessage `json:"candidates"`
}

// body is a plugin request; each request reads the fields it needs.
type body struct {
	Request string `json:"request"`
	Room    any    `json:"room"`
	PType   string `json:"ptype"`
	Display string `json:"display"`
	Feed    uint64 `json:"feed"`
	Audio   *bool  `json:"audio"`
	Video   *bool  `json:"video"`
	Muted   *bool  `json:"muted"`
}

type jsep struct {
	Type string `json:"type"`
	SDP  string `json:"sdp"`
}

// out is a message to the client.
type out struct {
	Janus        string      `json:"janus,omitempty"`
	SessionID    uint64      `json:"session_id,omitempty"`
	Transaction  string      `json:"transaction,omitempty"`
	Sender       uint64      `json:"sender,omitempty"`
	Data         *idData     `json:"data,omitempty"`
	PluginData   *pluginData `json:"plugindata,omitempty"`
	JSEP         *jsep       `json:"jsep,omitempty"`
	Error        *coreError  `json:"error,omitempty"`
	StatusCode   int         `json:"status_code,omitempty"`
	ErrorMessage string      `json:"error_message,omitempty"`
}

type idData struct {
	ID uint64 `json:"id"`
}

type pluginData struct {
	Plugin string         `json:"plugin"`
	Data   map[string]any `json:"data"`
}

type coreError struct {
	Code   int    `json:"code"`
	Reason string `json:"reason"`
}

// Janus core error codes.
const (
	errUnknownRequest  = 453
	errSessionNotFound = 458
	errHandleNotFound  = 459
	errPluginNotFound  = 460
	errPluginMessage   = 462
	errInvalidJSON     = 454
	errMissingRequest  = 452
	errInvalidElement  = 467
)

// display is what the SDK puts, as base64 of JSON, in a Janus display.
type display struct {
	ParticipantID      string      `json:"participantId"`
	Stream             *streamInfo `json:"stream,omitempty"`
	External           string      `json:"external,omitempty"`
	CanReceiveMessages bool        `json:"canReceiveMessages,omitempty"`
}

type streamInfo struct {
	ID             string `json:"id"`
	Key            string `json:"key"`
	IsAudioEnabled bool   `json:"isAudioEnabled"`
	IsVideoEnabled bool   `json:"isVideoEnabled"`
}

// maxDisplay bounds a display's length, encoded.
const maxDisplay = 4096

// decodeDisplay reads a client's display.
func decodeDisplay(s string) (display, error) {
	var d display
	if s == "" {
		return d, errors.New("display is missing")
	}
	if len(s) > maxDisplay {
		return d, errors.New("display is too long")
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return d, errors.New("display is not base64")
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		return d, errors.New("display is not base64 of a JSON object")
	}
	if strings.TrimSpace(d.ParticipantID) == "" {
		return d, errors.New("display has no participantId")
	}
	return d, nil
}

// encodeDisplay writes a display as the SDK does (base64 of UTF-8 JSON).
func encodeDisplay(d display) string {
	raw, _ := json.Marshal(d)
	return base64.StdEncoding.EncodeToString(raw)
}
