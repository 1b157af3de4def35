package compose

import (
	"cmp"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/roomsd/roomsd/internal/domain"
)

// allSources in a region's video_sources stands for every video recording
// of the session.
const allSources = "*"

// input is a recording's file placed on the composition's timeline.
type input struct {
	rec  domain.Recording
	path string
	// offset is how long after the composition's start the recording
	// starts.
	offset time.Duration
	// rate is the frame rate of an H.264 stream, whose file has no
	// timestamps (0 for other codecs).
	rate float64
}

// tile is a video input drawn in a cell of the canvas.
type tile struct {
	input
	x, y, w, h int
}

// plan is what one render draws and mixes.
type plan struct {
	width, height int
	// length runs from the earliest start of the recordings used to the
	// latest end.
	length time.Duration
	tiles  []tile // in drawing order: lower z_pos first
	audio  []input
}

// recording is a completed recording whose file ffmpeg can read.
type recording struct {
	domain.Recording
	path string
}

// failure is an error that fails the composition, with the reason shown
// to the API's users.
type failure string

func (f failure) Error() string { return string(f) }

var resolutionRE = regexp.MustCompile(`^([0-9]+)x([0-9]+)$`)

// canvas reads a composition's resolution. H.264 in 4:2:0 needs even
// sides: an odd one is rendered a pixel smaller.
func canvas(resolution string) (w, h int, err error) {
	m := resolutionRE.FindStringSubmatch(resolution)
	if m == nil {
		return 0, 0, failure(fmt.Sprintf("resolution %q is not WIDTHxHEIGHT", resolution))
	}
	w, _ = strconv.Atoi(m[1])
	h, _ = strconv.Atoi(m[2])
	w, h = w&^1, h&^1
	if w < 2 || h < 2 {
		return 0, 0, failure(fmt.Sprintf("resolution %q is too small to render", resolution))
	}
	return w, h, nil
}

// ends returns when a recording's media ends.
func ends(r domain.Recording) time.Time {
	if r.EndedAt != nil {
		return *r.EndedAt
	}
	if r.DurationSecs != nil {
		return r.StartedAt.Add(time.Duration(*r.DurationSecs) * time.Second)
	}
	return r.StartedAt
}

// newPlan lays out a composition: the video recordings its video_layout
// selects, each scaled into a cell of its region's grid, and every audio
// recording of the session, all on one timeline.
func newPlan(c domain.Composition, recs []recording) (plan, error) {
	width, height, err := canvas(c.Resolution)
	if err != nil {
		return plan{}, err
	}
	pl := plan{width: width, height: height}
	var videos []recording
	byID := map[string]recording{}
	for _, r := range recs {
		switch r.Type {
		case domain.MediaVideo:
			videos = append(videos, r)
			byID[r.ID] = r
		case domain.MediaAudio:
			pl.audio = append(pl.audio, input{rec: r.Recording, path: r.path})
		}
	}
	byStart := func(a, b recording) int {
		return cmp.Or(a.StartedAt.Compare(b.StartedAt), cmp.Compare(a.ID, b.ID))
	}
	slices.SortFunc(videos, byStart)

	layout := c.VideoLayout
	if len(layout) == 0 {
		layout = map[string]domain.VideoRegion{"": {VideoSources: []string{allSources}}}
	}
	names := make([]string, 0, len(layout))
	for name := range layout {
		names = append(names, name)
	}
	slices.SortFunc(names, func(a, b string) int {
		return cmp.Or(cmp.Compare(deref(layout[a].ZPos), deref(layout[b].ZPos)), cmp.Compare(a, b))
	})
	for _, name := range names {
		region := layout[name]
		var srcs []recording
		seen := map[string]bool{}
		add := func(r recording) {
			if !seen[r.ID] {
				seen[r.ID] = true
				srcs = append(srcs, r)
			}
		}
		for _, src := range region.VideoSources {
			if src == allSources {
				for _, v := range videos {
					add(v)
				}
			} else if v, ok := byID[src]; ok {
				add(v)
			}
		}
		pl.tiles = append(pl.tiles, place(region, srcs, width, height)...)
	}

	var start, end time.Time
	for i, in := range pl.inputs() {
		if s, e := in.rec.StartedAt, ends(in.rec); i == 0 {
			start, end = s, e
		} else {
			start, end = minTime(start, s), maxTime(end, e)
		}
	}
	if start.IsZero() {
		if len(videos) > 0 {
			return plan{}, failure(fmt.Sprintf("nothing to compose: the video_layout selects none of the session's %d video recordings, "+
				"and the session has no audio recording", len(videos)))
		}
		return plan{}, failure(fmt.Sprintf("nothing to compose: session %s has no completed audio or video recording", c.SessionID))
	}
	// At least one frame, so that a very short recording still renders.
	pl.length = max(end.Sub(start), 100*time.Millisecond)
	for i := range pl.tiles {
		pl.tiles[i].offset = pl.tiles[i].rec.StartedAt.Sub(start)
	}
	for i := range pl.audio {
		pl.audio[i].offset = pl.audio[i].rec.StartedAt.Sub(start)
	}
	return pl, nil
}

// inputs lists every input of the plan: the tiles' videos, then the
// audio.
func (pl plan) inputs() []input {
	out := make([]input, 0, len(pl.tiles)+len(pl.audio))
	for _, t := range pl.tiles {
		out = append(out, t.input)
	}
	return append(out, pl.audio...)
}

// place puts the sources into the cells of a region's grid, row by row;
// sources beyond the grid's cells are left out. A region without a size
// reaches to the canvas's right and bottom edges.
func place(r domain.VideoRegion, srcs []recording, width, height int) []tile {
	x, y := clamp(deref(r.XPos), 0, width-2), clamp(deref(r.YPos), 0, height-2)
	w, h := width-x, height-y
	if r.Width != nil {
		w = clamp(*r.Width, 2, width-x)
	}
	if r.Height != nil {
		h = clamp(*r.Height, 2, height-y)
	}
	cols, rows := grid(len(srcs), r.MaxColumns, r.MaxRows)
	var out []tile
	for i, src := range srcs[:min(len(srcs), cols*rows)] {
		col, row := i%cols, i/cols
		// Cells start and end on even pixels (4:2:0 chroma).
		x0, x1 := (x+col*w/cols)&^1, (x+(col+1)*w/cols)&^1
		y0, y1 := (y+row*h/rows)&^1, (y+(row+1)*h/rows)&^1
		if x1-x0 < 2 || y1-y0 < 2 {
			continue // a cell too small to show anything
		}
		out = append(out, tile{input: input{rec: src.Recording, path: src.path}, x: x0, y: y0, w: x1 - x0, h: y1 - y0})
	}
	return out
}

// grid picks the columns and rows for n sources: as square as it can,
// within max_columns and max_rows when they are given.
func grid(n int, maxCols, maxRows *int) (cols, rows int) {
	if n == 0 {
		return 0, 0
	}
	cols = int(math.Ceil(math.Sqrt(float64(n))))
	if maxCols != nil {
		cols = min(cols, max(*maxCols, 1))
	}
	rows = (n + cols - 1) / cols
	if maxRows != nil && rows > *maxRows {
		rows = max(*maxRows, 1)
		cols = (n + rows - 1) / rows
		if maxCols != nil {
			cols = min(cols, max(*maxCols, 1))
		}
	}
	return cols, rows
}

func deref(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

func clamp(v, lo, hi int) int { return max(lo, min(v, hi)) }

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
