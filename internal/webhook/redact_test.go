package webhook_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/roomsd/roomsd/internal/domain"
	"github.com/roomsd/roomsd/internal/store"
	"github.com/roomsd/roomsd/internal/testutil"
	"github.com/roomsd/roomsd/internal/webhook"
)

// A receiver's secret, in the query string or in the user info of its
// URL, never reaches the logs or the stored last error, which still name
// the host and path of the receiver concerned.
func TestWebhookSecretsStayOutOfLogsAndErrors(t *testing.T) {
	const query, userinfo = "s3cr3t-query", "p4ss-userinfo"
	ctx := context.Background()
	logs := &testutil.SyncBuffer{}
	e := newEnvLogging(t, webhook.Config{MaxAttempts: 2}, logs)

	// (a) A receiver that answers 500, its secret in the query string.
	failing := newReceiver(t, func(int, hit) int { return 500 })
	roomA := e.room(failing.URL+"/hooks/a?secret="+query+"#"+query, "", nil)
	// (d) One that takes the event, to see the delivered log and that the
	// secret still reaches the receiver.
	taking := newReceiver(t, nil)
	roomD := e.room(taking.URL+"/hooks/d?secret="+query, "", nil)

	// (b) A primary and a failover nobody answers at, their secrets in the
	// user info, and (c) a URL that is not http(s) at all. The API refuses
	// such URLs for a room, so these are put in the outbox directly.
	closed := testutil.ClosedAddr(t)
	appendDelivery := func(url, failover string) string {
		t.Helper()
		now := time.Now()
		d := domain.Delivery{Event: domain.Event{ID: uuid.NewString(), Type: domain.EventSessionStarted, OccurredAt: now, RoomID: uuid.NewString()},
			URL: url, FailoverURL: failover, Status: domain.DeliveryPending, NextAttemptAt: now, CreatedAt: now, UpdatedAt: now}
		if err := e.st.AppendDelivery(ctx, d); err != nil {
			t.Fatal(err)
		}
		return d.Event.RoomID
	}
	roomB := appendDelivery("http://user:"+userinfo+"@"+closed+"/hooks/b?secret="+query,
		"http://user:"+userinfo+"@"+closed+"/hooks/b-failover?secret="+query)
	roomC := appendDelivery("ftp://user:"+userinfo+"@127.0.0.1/hooks/c?secret="+query, "")
	e.d.Notify()
	e.svc.Join(ctx, roomA.ID, "A")
	e.svc.Join(ctx, roomD.ID, "D")

	// outcome returns the first (oldest) delivery of a room.
	outcome := func(roomID string) domain.Delivery {
		ds, _, err := e.st.ListDeliveries(ctx, store.DeliveryFilter{RoomID: &roomID}, store.Page{Number: 1, Size: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) == 0 {
			return domain.Delivery{}
		}
		return ds[len(ds)-1]
	}
	testutil.Eventually(t, 10*time.Second, "every room's first event has its outcome", func() bool {
		return outcome(roomA.ID).Status == domain.DeliveryFailed && outcome(roomB).Status == domain.DeliveryFailed &&
			outcome(roomC).Status == domain.DeliveryFailed && outcome(roomD.ID).Status == domain.DeliveryDelivered
	})

	if h := taking.got(); len(h) == 0 || h[0].meta["delivered_to"] != taking.URL+"/hooks/d?secret="+query {
		t.Errorf("the receiver did not get its event at its full URL: %v", h)
	}
	hostA, hostD := strings.TrimPrefix(failing.URL, "http://"), strings.TrimPrefix(taking.URL, "http://")
	for _, c := range []struct {
		room      string
		lastError string // what the stored last error names
	}{
		{roomA.ID, "answered 500"},
		{roomB, closed + "/hooks/b-failover"},
		{roomC, `"ftp://127.0.0.1/hooks/c" is not an http(s) URL`},
	} {
		le := outcome(c.room).LastError
		if !strings.Contains(le, c.lastError) || strings.Contains(le, query) || strings.Contains(le, userinfo) {
			t.Errorf("last error %q: want it to name %q and no secret", le, c.lastError)
		}
	}

	out := logs.String()
	for _, secret := range []string{query, userinfo} {
		if strings.Contains(out, secret) {
			t.Errorf("the log shows the secret %q:\n%s", secret, out)
		}
	}
	for _, want := range []string{
		"url=http://" + hostA + "/hooks/a ",                // the retries and the final failure
		`url=http://` + closed + `/hooks/b `,               // the primary, before the failover
		`\"http://` + closed + `/hooks/b\": dial tcp`,      // the primary's error
		"url=http://" + closed + "/hooks/b-failover ",      // the failover
		`\"http://` + closed + `/hooks/b-failover\": dial`, // the failover's error
		`\"ftp://127.0.0.1/hooks/c\" is not an http(s) URL`,
		"url=http://" + hostD + "/hooks/d ", // delivered
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the log does not show %s:\n%s", want, out)
		}
	}
}
