package api

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestTimestampMatchesFormat(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	cases := []time.Time{
		time.Date(2021, 4, 16, 9, 46, 20, 954863000, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(2024, 2, 29, 12, 0, 0, 1000, time.FixedZone("x", 5*3600+1800)),
		time.Unix(0, 0),
		time.Unix(0, -1),
		time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(2000, 2, 29, 23, 59, 59, 999999000, time.UTC),
		time.Date(2100, 3, 1, 0, 0, 0, 0, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	for range 10000 {
		cases = append(cases, time.Unix(r.Int64N(1<<35)-1<<34, r.Int64N(1e9)))
	}
	for range 10000 { // every day from 1970 to 9999
		cases = append(cases, time.Unix(r.Int64N(253402300800), r.Int64N(1e9)))
	}
	for _, c := range cases {
		if got, want := ts(c), c.UTC().Format(timestampLayout); got != want {
			t.Fatalf("ts(%v) = %s, want %s", c, got, want)
		}
	}
}

func BenchmarkTimestamp(b *testing.B) {
	at := time.Date(2021, 4, 16, 9, 46, 20, 954863000, time.UTC)
	for b.Loop() {
		_ = ts(at)
	}
}
