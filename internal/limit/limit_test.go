package limit

import (
	"testing"
	"time"
)

func TestParseRate(t *testing.T) {
	for in, want := range map[string]Rate{
		"off": {}, "0": {}, "20/s": {20, 20}, "600/m": {10, 10}, "600/m:50": {10, 50}, "30/h": {1.0 / 120, 1}, "0.5/s:3": {0.5, 3},
	} {
		got, err := ParseRate(in)
		if err != nil || got != want {
			t.Errorf("ParseRate(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "20", "20/d", "-1/s", "x/s", "20/s:0", "20/s:x", "NaN/s", "Inf/s"} {
		if _, err := ParseRate(bad); err == nil {
			t.Errorf("ParseRate(%q) accepted", bad)
		}
	}
}

// Each key has its own bucket: one key over its limit is refused with
// the time until its next event, another key is not, and the refused key
// is let through again once that time has passed.
func TestKeyed(t *testing.T) {
	now := time.Unix(1000, 0)
	k := NewKeyed(Rate{PerSecond: 2, Burst: 3})
	k.now = func() time.Time { return now }
	for i := 0; i < 3; i++ {
		if ok, _ := k.Allow("a"); !ok {
			t.Fatalf("event %d within the burst refused", i+1)
		}
	}
	ok, wait := k.Allow("a")
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("over the burst: ok %v, retry after %v; want refused for 500ms", ok, wait)
	}
	if ok, _ := k.Allow("b"); !ok {
		t.Fatal("another key refused")
	}
	now = now.Add(wait)
	if ok, _ := k.Allow("a"); !ok {
		t.Fatal("refused again after waiting what it was told")
	}
	if ok, _ := k.Allow("a"); ok {
		t.Fatal("the refill gave more than one event")
	}
	if ok, _ := (*Keyed)(nil).Allow("a"); !ok || NewKeyed(Rate{}) != nil {
		t.Fatal("an off limit refuses")
	}
}

// Keys whose buckets have refilled are forgotten once many are kept.
func TestKeyedForgetsRefilledKeys(t *testing.T) {
	now := time.Unix(1000, 0)
	k := NewKeyed(Rate{PerSecond: 1, Burst: 1})
	k.now = func() time.Time { return now }
	for i := 0; i < sweepAbove; i++ {
		k.Allow(string(rune(i)) + "x")
	}
	now = now.Add(2 * time.Minute)
	k.Allow("new")
	if len(k.buckets) != 1 {
		t.Errorf("%d keys kept after they refilled; want only the new one", len(k.buckets))
	}
}
