package compose

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/roomsd/roomsd/internal/domain"
)

func ptr[T any](v T) *T { return &v }

// The grid is as square as the sources allow, within max_columns and
// max_rows.
func TestGrid(t *testing.T) {
	for _, c := range []struct {
		n            int
		cols, rows   *int
		wantC, wantR int
	}{
		{0, nil, nil, 0, 0},
		{1, nil, nil, 1, 1},
		{2, nil, nil, 2, 1},
		{3, nil, nil, 2, 2},
		{5, nil, nil, 3, 2},
		{2, ptr(2), ptr(1), 2, 1},
		{1, ptr(2), ptr(1), 1, 1},
		{4, ptr(1), nil, 1, 4},
		{5, nil, ptr(1), 5, 1},
		{9, ptr(2), ptr(2), 2, 2}, // five left out
	} {
		if cols, rows := grid(c.n, c.cols, c.rows); cols != c.wantC || rows != c.wantR {
			t.Errorf("grid(%d, %v, %v) = %dx%d, want %dx%d", c.n, deref(c.cols), deref(c.rows), cols, rows, c.wantC, c.wantR)
		}
	}
}

// "*" stands for every video, in the order they started (after those
// the region names first); regions are drawn in z_pos order; the
// timeline starts at the earliest recording used.
func TestPlan(t *testing.T) {
	t0 := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	rec := func(name, typ string, start, length time.Duration) recording {
		end := t0.Add(start + length)
		return recording{Recording: domain.Recording{ID: name, Type: typ, StartedAt: t0.Add(start), EndedAt: &end}, path: "/" + name}
	}
	recs := []recording{
		rec("late", domain.MediaVideo, 3*time.Second, 5*time.Second),
		rec("speaker", domain.MediaVideo, 2*time.Second, 10*time.Second),
		rec("early", domain.MediaVideo, 1*time.Second, 2*time.Second),
		rec("voice", domain.MediaAudio, 1500*time.Millisecond, 11*time.Second),
	}
	c := domain.Composition{SessionID: "s", Resolution: "1280x720", VideoLayout: map[string]domain.VideoRegion{
		"strip": {YPos: ptr(540), Height: ptr(180), ZPos: ptr(2), MaxRows: ptr(1), VideoSources: []string{"late", "*"}},
		"main":  {Width: ptr(1280), Height: ptr(720), VideoSources: []string{"speaker"}},
	}}
	pl, err := newPlan(c, recs)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tl := range pl.tiles {
		got = append(got, fmt.Sprintf("%s@%d,%d %dx%d +%v", tl.rec.ID, tl.x, tl.y, tl.w, tl.h, tl.offset))
	}
	want := "speaker@0,0 1280x720 +1s; late@0,540 426x180 +2s; early@426,540 426x180 +0s; speaker@852,540 428x180 +1s"
	if strings.Join(got, "; ") != want {
		t.Errorf("tiles:\n%s\nwant\n%s", strings.Join(got, "; "), want)
	}
	if len(pl.audio) != 1 || pl.length != 11500*time.Millisecond || pl.audio[0].offset != 500*time.Millisecond {
		t.Fatalf("length %v, audio %d; want 11.5 s (1 s to 12.5 s), the voice at +0.5 s", pl.length, len(pl.audio))
	}

	// An odd side is rendered a pixel smaller; an empty layout shows
	// every video in one grid.
	pl, err = newPlan(domain.Composition{Resolution: "641x361"}, recs[:3])
	if err != nil || pl.width != 640 || pl.height != 360 || len(pl.tiles) != 3 {
		t.Errorf("odd canvas: %dx%d, %d tiles, %v", pl.width, pl.height, len(pl.tiles), err)
	}
	if _, err := newPlan(domain.Composition{Resolution: "640x360", SessionID: "s"}, nil); err == nil ||
		!strings.Contains(err.Error(), "nothing to compose") {
		t.Errorf("no recordings: %v", err)
	}
	// Videos the layout leaves out, no audio: nothing to compose.
	only := domain.Composition{Resolution: "640x360", VideoLayout: map[string]domain.VideoRegion{"a": {VideoSources: []string{}}}}
	if _, err := newPlan(only, recs[:3]); err == nil || !strings.Contains(err.Error(), "selects none") {
		t.Errorf("layout selecting nothing: %v", err)
	}
}
