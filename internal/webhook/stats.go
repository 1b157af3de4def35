package webhook

import (
	"context"
	"sync/atomic"
)

// Stats counts this dispatcher's delivery attempts by outcome since it
// started, for metrics.
type Stats struct {
	// Delivered: the URL or the failover URL took the event. Retried: both
	// failed, and the event will be tried again. Failed: both failed on
	// the last attempt (or the event cannot be delivered), for good.
	Delivered, Retried, Failed uint64
}

type counts struct {
	delivered, retried, failed atomic.Uint64
}

// Stats reports the attempts made so far.
func (d *Dispatcher) Stats() Stats {
	return Stats{Delivered: d.counts.delivered.Load(), Retried: d.counts.retried.Load(), Failed: d.counts.failed.Load()}
}

// Pending counts the events waiting to be delivered, by every node
// sharing the database.
func (d *Dispatcher) Pending(ctx context.Context) (int, error) {
	return d.store.PendingDeliveries(ctx)
}
