// Package limit keeps rate limits per key (an API key, a client address):
// a token bucket for each key seen, forgotten once it has refilled.
package limit

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Rate is a sustained rate and a burst. The zero Rate is no limit.
type Rate struct {
	PerSecond float64
	Burst     int
}

// Off reports whether r limits nothing.
func (r Rate) Off() bool { return r.PerSecond <= 0 }

// String says the rate in words, for messages to clients.
func (r Rate) String() string {
	if r.Off() {
		return "no limit"
	}
	return fmt.Sprintf("%g a second, in bursts of up to %d", r.PerSecond, r.Burst)
}

// ParseRate reads "off", "N/s", "N/m" or "N/h", each optionally followed
// by ":B", the burst (default: one second's worth, at least 1).
func ParseRate(s string) (Rate, error) {
	s = strings.TrimSpace(s)
	if s == "off" || s == "0" {
		return Rate{}, nil
	}
	spec, burst, hasBurst := strings.Cut(s, ":")
	n, unit, ok := strings.Cut(spec, "/")
	v, err := strconv.ParseFloat(n, 64)
	if !ok || err != nil || v <= 0 || math.IsInf(v, 0) || math.IsNaN(v) {
		return Rate{}, errors.New(`is not a rate such as "20/s", "600/m:50" or "off"`)
	}
	switch unit {
	case "s":
	case "m":
		v /= 60
	case "h":
		v /= 3600
	default:
		return Rate{}, errors.New(`has a unit other than /s, /m or /h`)
	}
	r := Rate{PerSecond: v, Burst: int(math.Max(1, math.Ceil(v)))}
	if hasBurst {
		b, err := strconv.Atoi(burst)
		if err != nil || b < 1 {
			return Rate{}, errors.New(`has a burst (after ":") that is not a positive whole number`)
		}
		r.Burst = b
	}
	return r, nil
}

// Keyed limits each key to a Rate. A nil *Keyed allows everything.
type Keyed struct {
	rate Rate
	now  func() time.Time

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	l    *rate.Limiter
	seen time.Time
}

// sweepAbove is how many keys are kept before full buckets are dropped.
const sweepAbove = 4096

// NewKeyed returns a limiter of r for each key, or nil when r is off.
func NewKeyed(r Rate) *Keyed {
	if r.Off() {
		return nil
	}
	return &Keyed{rate: r, now: time.Now, buckets: map[string]*bucket{}}
}

// Rate is the limit each key has.
func (k *Keyed) Rate() Rate {
	if k == nil {
		return Rate{}
	}
	return k.rate
}

// Allow takes one event of key if its bucket has one; otherwise it says
// how long until it would.
func (k *Keyed) Allow(key string) (ok bool, retryAfter time.Duration) {
	if k == nil {
		return true, 0
	}
	now := k.now()
	k.mu.Lock()
	defer k.mu.Unlock()
	b := k.buckets[key]
	if b == nil {
		k.sweepLocked(now)
		b = &bucket{l: rate.NewLimiter(rate.Limit(k.rate.PerSecond), k.rate.Burst)}
		k.buckets[key] = b
	}
	b.seen = now
	res := b.l.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return false, d
	}
	return true, 0
}

// sweepLocked forgets, at most once a minute and only when many keys are
// kept, the keys whose buckets have refilled: they are as good as new.
func (k *Keyed) sweepLocked(now time.Time) {
	if len(k.buckets) < sweepAbove || now.Sub(k.lastSweep) < time.Minute {
		return
	}
	k.lastSweep = now
	full := time.Duration(float64(k.rate.Burst) / k.rate.PerSecond * float64(time.Second))
	for key, b := range k.buckets {
		if now.Sub(b.seen) > full {
			delete(k.buckets, key)
		}
	}
}
