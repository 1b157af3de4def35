// Package probe reads media files in tests with Debian's ffprobe and ffmpeg
// (package ffmpeg, installed by .ci/run).
package probe

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Probe is what ffprobe reads of a media file.
type Probe struct {
	Format struct {
		FormatName string `json:"format_name"`
		Duration   string `json:"duration"`
		Size       string `json:"size"`
	} `json:"format"`
	Streams []struct {
		CodecType string `json:"codec_type"`
		CodecName string `json:"codec_name"`
		Width     int    `json:"width"`
		Height    int    `json:"height"`
		Duration  string `json:"duration"`
	} `json:"streams"`
}

// Duration is the file's duration as ffprobe reads it.
func (p Probe) Duration() time.Duration {
	f, _ := strconv.ParseFloat(p.Format.Duration, 64)
	return time.Duration(f * float64(time.Second))
}

// Count is how many streams of a type ("audio", "video") the file has.
func (p Probe) Count(codecType string) int {
	n := 0
	for _, s := range p.Streams {
		if s.CodecType == codecType {
			n++
		}
	}
	return n
}

// File reads a media file with Debian's ffprobe (package ffmpeg,
// installed by .ci/run), failing the test if it cannot.
func File(t testing.TB, path string) Probe {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v (is ffmpeg installed? apt-get install ffmpeg)", path, err)
	}
	var p Probe
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	return p
}

// Decode decodes every frame of a media file with ffmpeg and returns
// what ffmpeg reported as errors (empty: it decoded cleanly). ffmpeg's
// complaints about its own output (the null muxer, whose clock counts
// frames, refuses two pictures in one frame period: a layer switch) are
// not errors of the file and are left out.
func Decode(t testing.TB, path string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-v", "error", "-i", path, "-fps_mode", "passthrough", "-f", "null", "-")
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("ffmpeg decode %s: %v: %s", path, err, stderr.String())
	}
	var errs []string
	for _, line := range strings.Split(stderr.String(), "\n") {
		if line != "" && !strings.Contains(line, "non monotonically increasing dts to muxer") {
			errs = append(errs, line)
		}
	}
	return strings.Join(errs, "\n")
}

// Played is how long a media file plays when decoded to its end: the
// time of its last decoded frame (ffmpeg's own count, for files whose
// header has no duration, such as one cut short by a crash).
func Played(t testing.TB, path string) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-show_entries", "frame=pts_time,duration_time",
		"-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe frames of %s: %v", path, err)
	}
	var end float64
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, ",")
		pts, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		d := 0.0
		if len(f) > 1 {
			d, _ = strconv.ParseFloat(f[1], 64)
		}
		end = max(end, pts+d)
	}
	return time.Duration(end * float64(time.Second))
}

// Silence is a stretch of silence ffmpeg's silencedetect found.
type Silence struct{ Start, End time.Duration }

var silenceRE = regexp.MustCompile(`silence_(start|end): (-?[0-9.]+)`)

// Silences lists the stretches of an audio file quieter than -50 dB for
// at least min.
func Silences(t testing.TB, path string, min time.Duration) []Silence {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-i", path, "-af",
		fmt.Sprintf("silencedetect=n=-50dB:d=%.3f", min.Seconds()), "-f", "null", "-")
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("ffmpeg silencedetect %s: %v: %s", path, err, stderr.String())
	}
	var out []Silence
	for _, m := range silenceRE.FindAllStringSubmatch(stderr.String(), -1) {
		f, _ := strconv.ParseFloat(m[2], 64)
		d := time.Duration(f * float64(time.Second))
		if m[1] == "start" {
			out = append(out, Silence{Start: d, End: -1})
		} else if len(out) > 0 {
			out[len(out)-1].End = d
		}
	}
	return out
}
