package api

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// FixedListHandler serves one fixed GET /v2/rooms response: body is
// decoded once into the list's own types and encoded afresh on every
// request by the same writer as the real list, with no store and no
// middleware. It is the ceiling of HTTP and JSON that the room list is
// measured against (cmd/roomsd-load -baseline), so the two must share
// their encoding code.
func FixedListHandler(body []byte) (http.Handler, error) {
	var page struct {
		Data []roomJSON `json:"data"`
		Meta pageMeta   `json:"meta"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		return nil, fmt.Errorf("api: a room list page: %w", err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data := make([]roomJSON, len(page.Data))
		copy(data, page.Data)
		writeJSON(w, http.StatusOK, listBody{Data: data, Meta: page.Meta})
	}), nil
}
