package api

import (
	"net/http"

	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/store"
)

type deliveryJSON struct {
	ID            string  `json:"id"`
	EventType     string  `json:"event_type"`
	RoomID        string  `json:"room_id"`
	OccurredAt    string  `json:"occurred_at"`
	URL           string  `json:"url"`
	FailoverURL   string  `json:"failover_url"`
	Status        string  `json:"status"`
	Attempts      int     `json:"attempts"`
	NextAttemptAt *string `json:"next_attempt_at"`
	LastError     string  `json:"last_error"`
	LastStatus    int     `json:"last_status"`
	DeliveredTo   string  `json:"delivered_to"`
	DeliveredAt   *string `json:"delivered_at"`
	CreatedAt     string  `json:"created_at"`
	UpdatedAt     string  `json:"updated_at"`
	RecordType    string  `json:"record_type"`
}

func toDeliveryJSON(d domain.Delivery) deliveryJSON {
	out := deliveryJSON{ID: d.Event.ID, EventType: d.Event.Type, RoomID: d.Event.RoomID, OccurredAt: ts(d.Event.OccurredAt),
		URL: d.URL, FailoverURL: d.FailoverURL, Status: d.Status, Attempts: d.Attempts, LastError: d.LastError,
		LastStatus: d.LastStatus, DeliveredTo: d.DeliveredTo, DeliveredAt: tsPtr(d.DeliveredAt), CreatedAt: ts(d.CreatedAt),
		UpdatedAt: ts(d.UpdatedAt), RecordType: "webhook_delivery"}
	if d.Status == domain.DeliveryPending {
		out.NextAttemptAt = tsPtr(&d.NextAttemptAt)
	}
	return out
}

// deliveryFilter selects webhook deliveries for GET /v2/webhook_deliveries,
// which shows what was sent where, how many attempts, and the last error.
func deliveryFilter(q *query) store.DeliveryFilter {
	return store.DeliveryFilter{
		Status: q.enum("filter[status]", domain.DeliveryPending, domain.DeliveryDelivered, domain.DeliveryFailed),
		RoomID: q.id("filter[room_id]"),
	}
}

type publicKeyJSON struct {
	PublicKey string `json:"public_key"`
	Algorithm string `json:"algorithm"`
	Signs     string `json:"signs"`
}

// webhookPublicKey is public: receivers verify webhooks with it.
func (a *API) webhookPublicKey(w http.ResponseWriter, r *http.Request) {
	if a.webhookKey == "" {
		a.fail(w, r, notFound("This server has no webhook signing key."), "")
		return
	}
	writeJSON(w, http.StatusOK, publicKeyJSON{PublicKey: a.webhookKey, Algorithm: "ed25519",
		Signs: `telnyx-signature-ed25519 = base64(Ed25519(telnyx-timestamp + "|" + body))`})
}
