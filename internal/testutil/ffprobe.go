package testutil

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"strconv"
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

// FFprobe reads a media file with Debian's ffprobe (package ffmpeg,
// installed by .ci/run), failing the test if it cannot.
func FFprobe(t testing.TB, path string) Probe {
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
// what ffmpeg reported as errors (empty: it decoded cleanly).
func Decode(t testing.TB, path string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-v", "error", "-i", path, "-f", "null", "-")
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("ffmpeg decode %s: %v: %s", path, err, stderr.String())
	}
	return stderr.String()
}
