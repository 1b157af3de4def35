package compose

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// fps is the frame rate of every composition.
const fps = 25

// Reasons for a composition that cannot be rendered on this server.
const (
	noFFmpeg  = "ffmpeg is not installed on the server (Debian: apt-get install ffmpeg)"
	noFFprobe = "ffprobe is not installed on the server (Debian: apt-get install ffmpeg)"
)

// renderTimeout is how long ffmpeg may take over a composition of the
// given length: far more than a render needs on a loaded machine, so
// that only a stuck process is stopped.
func renderTimeout(length time.Duration) time.Duration { return 2*time.Minute + 10*length }

// seconds formats a duration for ffmpeg, in seconds to the millisecond.
func seconds(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 3, 64) }

// args is the ffmpeg command line that renders the plan into out (MP4).
func (pl plan) args(out string) []string {
	args := []string{"-nostdin", "-hide_banner", "-v", "error", "-nostats", "-progress", "pipe:1", "-y"}
	for _, t := range pl.tiles {
		// A change of picture size must not rebuild the filter graph
		// (which would restart the canvas): the scaler follows it.
		args = append(args, "-reinit_filter", "0")
		if t.rec.Codec == "h264" {
			args = append(args, "-f", "h264", "-framerate", strconv.FormatFloat(t.rate, 'f', 3, 64))
		}
		args = append(args, "-i", t.path)
	}
	for _, a := range pl.audio {
		args = append(args, "-i", a.path)
	}
	return append(args, "-filter_complex", pl.filter(), "-map", "[vout]", "-map", "[aout]",
		"-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-r", strconv.Itoa(fps),
		"-c:a", "aac", "-b:a", "128k", "-ar", "48000", "-ac", "2",
		"-movflags", "+faststart", "-t", seconds(pl.length), "-f", "mp4", out)
}

// filter is the filter graph: a black canvas as long as the composition,
// each video scaled to fit its cell (aspect kept, padded black), shifted
// to when it started and drawn over the canvas in z order until it ends;
// the audio delayed likewise and mixed (silence when there is none).
func (pl plan) filter() string {
	var b strings.Builder
	length := seconds(pl.length)
	fmt.Fprintf(&b, "color=c=black:s=%dx%d:r=%d:d=%s,format=yuv420p", pl.width, pl.height, fps, length)
	if len(pl.tiles) == 0 {
		b.WriteString("[vout]")
	} else {
		b.WriteString("[base]")
	}
	for i, t := range pl.tiles {
		fmt.Fprintf(&b, ";[%d:v]scale=w=%d:h=%d:force_original_aspect_ratio=decrease:force_divisible_by=2,"+
			"pad=w=%d:h=%d:x=(ow-iw)/2:y=(oh-ih)/2:color=black,setsar=1,format=yuv420p,setpts=PTS-STARTPTS+%s/TB[v%d]",
			i, t.w, t.h, t.w, t.h, seconds(t.offset), i)
	}
	prev := "base"
	for i, t := range pl.tiles {
		next := "o" + strconv.Itoa(i)
		if i == len(pl.tiles)-1 {
			next = "vout"
		}
		fmt.Fprintf(&b, ";[%s][v%d]overlay=x=%d:y=%d:eof_action=pass[%s]", prev, i, t.x, t.y, next)
		prev = next
	}
	if len(pl.audio) == 0 {
		fmt.Fprintf(&b, ";anullsrc=r=48000:cl=stereo,atrim=end=%s[aout]", length)
		return b.String()
	}
	for j, a := range pl.audio {
		fmt.Fprintf(&b, ";[%d:a]aresample=48000,aformat=sample_fmts=fltp:channel_layouts=stereo,asetpts=PTS-STARTPTS,"+
			"adelay=delays=%d:all=1[a%d]", len(pl.tiles)+j, a.offset.Milliseconds(), j)
	}
	b.WriteString(";")
	for j := range pl.audio {
		fmt.Fprintf(&b, "[a%d]", j)
	}
	fmt.Fprintf(&b, "amix=inputs=%d:duration=longest:dropout_transition=0:normalize=0,apad=whole_dur=%s,atrim=end=%s[aout]",
		len(pl.audio), length, length)
	return b.String()
}

// h264Rate finds the frame rate of an H.264 Annex-B recording, which
// keeps no timestamps: its pictures (counted by ffprobe) over the time
// it was recorded.
func (p *Pool) h264Rate(ctx context.Context, in input) (float64, error) {
	if _, err := exec.LookPath(p.cfg.FFprobe); err != nil {
		return 0, failure(noFFprobe)
	}
	length := ends(in.rec).Sub(in.rec.StartedAt)
	pctx, cancel := context.WithTimeout(ctx, time.Minute+length/10)
	defer cancel()
	var stderr tail
	cmd := exec.CommandContext(pctx, p.cfg.FFprobe, "-v", "error", "-f", "h264", "-count_packets", "-select_streams", "v:0",
		"-show_entries", "stream=nb_read_packets", "-of", "csv=p=0", in.path)
	cmd.Stderr = &stderr
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.Output()
	if err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		return 0, failure(fmt.Sprintf("ffprobe could not read H.264 recording %s (%v): %s", in.rec.ID, err, stderr.lines(3)))
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil || n <= 0 || length <= 0 {
		return 0, failure(fmt.Sprintf("H.264 recording %s has no pictures ffprobe can count", in.rec.ID))
	}
	return min(max(float64(n)/length.Seconds(), 1), 120), nil
}

// ffmpeg renders the plan into the file at out, logging its progress.
// A failure to render is a failure (with ffmpeg's last words); an error
// is ctx's when the job was stopped.
func (p *Pool) ffmpeg(ctx context.Context, pl plan, out string, log *slog.Logger) error {
	timeout := renderTimeout(pl.length)
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(rctx, p.cfg.FFmpeg, pl.args(out)...)
	var stderr tail
	cmd.Stderr = &stderr
	cmd.WaitDelay = 5 * time.Second
	progress, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
			return failure(noFFmpeg)
		}
		return failure(fmt.Sprintf("ffmpeg could not start: %v", err))
	}
	p.report(progress, pl.length, log)
	err = cmd.Wait()
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case rctx.Err() != nil:
		return failure(fmt.Sprintf("rendering %s of media took longer than %v and was stopped", pl.length.Round(time.Millisecond), timeout))
	}
	return failure(fmt.Sprintf("ffmpeg failed (%v): %s", err, stderr.lines(5)))
}

// report reads ffmpeg's -progress output until it ends and logs how far
// the render has got, at most once every ProgressEvery.
func (p *Pool) report(r io.Reader, length time.Duration, log *slog.Logger) {
	sc := bufio.NewScanner(r)
	last := time.Now()
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), "out_time_us=")
		if !ok || time.Since(last) < p.cfg.ProgressEvery {
			continue
		}
		us, err := strconv.ParseInt(v, 10, 64)
		if err != nil || us < 0 {
			continue
		}
		last = time.Now()
		done := time.Duration(us) * time.Microsecond
		log.Info("rendering composition", "percent", min(100, int(100*done/max(length, 1))),
			"rendered", done.Round(time.Second), "length", length.Round(time.Second))
	}
	_, _ = io.Copy(io.Discard, r)
}

// tail keeps the last bytes written to it: what a process said last.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

const tailBytes = 4096

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - tailBytes; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

// lines returns the last n non-empty lines, joined by " | ".
func (t *tail) lines(n int) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for _, l := range strings.Split(string(t.buf), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	if len(out) > n {
		out = out[len(out)-n:]
	}
	if len(out) == 0 {
		return "(it said nothing)"
	}
	return strings.Join(out, " | ")
}
