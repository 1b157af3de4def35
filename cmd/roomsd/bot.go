package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/roomsd/roomsd/internal/bot"
)

const botUsage = `Usage: roomsd bot --room ROOM_ID [flags]

Joins a room like a user: mints a client token through the REST API
(POST /v2/rooms/{room_id}/actions/generate_join_client_token with the API
key), joins, publishes a synthetic 440 Hz Opus tone and VP8 video,
receives everyone else, and after --duration leaves and prints one JSON
object to stdout. With --count N it runs N participants in one process, a
load generator.

The video is camera-like by default: a moving test card with noise at 30
fps and a constant 1.5 Mbit/s (1280x720), in packets of a real camera's
size. --video-bitrate picks a smaller clip (500k: 640x360, 150k: 320x180)
or "pattern", the cheap test pattern (320x240, 15 fps, about 110 kbit/s).
--simulcast sends the three clips at once as simulcast encodings q, h, f,
as the meeting page does. --quality and --view say what each participant
asks of every remote video (see track_settings in docs/signaling.md).
Against a cluster, --server takes the nodes' URLs, comma-separated, and
with --rejoin a participant whose connection drops joins again through
the next one.

Progress goes to stderr every --progress:
  roomsd bot: progress t=3.001s connected=2/2 failed=0 packets=1234 audio=900 video=334 bytes=567890 lost=0
On SIGUSR1 the same line is written at once, as "snapshot", with the totals
of that moment (scripts use two snapshots to mark a measurement window).
SIGINT or SIGTERM ends the run early; the report is still printed.

Flags:
%s
Output: one JSON object, shown here with comments that are not part of it.
Times are milliseconds from the participant's token request, null when the
event did not happen:
  {
    "server": "http://127.0.0.1:8080",
    "room_id": "…",
    "publish": ["audio", "video"],
    "started_at": "2025-01-01T00:00:00Z",
    "duration_ms": 10250,           // first token request to the counts
    "participant_ids": ["…", "…"],  // the participants that joined
    "participants": [{
      "context": "roomsd-bot-1",
      "participant_id": "…",
      "session_id": "…",
      "connected": true,            // media (ICE and DTLS) connected
      "join_ms": 12,                // admitted to the room
      "connect_ms": 45,             // media connected
      "join_to_first_audio_ms": 60, // first remote audio packet
      "join_to_first_video_ms": 70, // first remote video packet
      "join_to_first_keyframe_ms": 90, // first remote keyframe packet
      "received": {                 // by remote participant id, then kind
        "<participant id>": {
          "audio": {"packets": 500, "bytes": 40000, "lost": 0},
          "video": {"packets": 450, "bytes": 380000, "lost": 0, "keyframes": 2,
                    "width": 1280, "height": 720, // the last keyframe's size: the layer received
                    "kbps": 1480,           // receive bitrate, first packet to last
                    "frames": 290, "freezes": 0, // gaps of over 500 ms between frames
                    "longest_gap_ms": 70,
                    "sizes": [{"at_ms": 95, "width": 320, "height": 180}, // each change of layer
                              {"at_ms": 2100, "width": 1280, "height": 720}]}
        }
      },
      "rejoins": 1,                 // with --rejoin: drops it came back from;
                                    // the counts are of its last connection
      "error": "…"                  // only when this participant failed
    }],
    "totals": {"packets": 1900, "bytes": 840000, "lost": 0, "keyframes": 4},
    "failed": 0
  }
"lost" counts packets missing from the RTP sequence numbers between the
first and the highest one received.

Exit status: 0 when every participant joined, connected its media and
stayed until the end; 1 when any did not (the reasons go to stderr and to
"error"); 2 for bad flags.
`

// botMain is `roomsd bot` with signals wired.
func botMain(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	snapshot := make(chan struct{}, 1)
	stopSnapshots := notifySnapshot(snapshot)
	defer stopSnapshots()
	return runBot(ctx, args, getenv, stdout, stderr, snapshot)
}

// runBot parses the flags, runs the bot and prints its report.
func runBot(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, snapshot <-chan struct{}) int {
	fs := flag.NewFlagSet("roomsd bot", flag.ContinueOnError)
	fs.SetOutput(stderr)
	envOr := func(def string, envs ...string) string { return envDefault(getenv, def, envs...) }
	server := fs.String("server", envOr("http://127.0.0.1:8080", "ROOMSD_BOT_SERVER"),
		"roomsd base URL, with or without /v2; or the comma-separated URLs of a cluster's nodes, tried in turn by --rejoin (env ROOMSD_BOT_SERVER)")
	apiKey := fs.String("api-key", envOr("", "ROOMSD_API_KEY", "ROOMSD_API_KEYS"),
		"API key that mints the client tokens (env ROOMSD_API_KEY, else the first of ROOMSD_API_KEYS)")
	room := fs.String("room", "", "id of the room to join (required)")
	name := fs.String("context", "roomsd-bot", "context (a name) stored on each participant; with --count N they are NAME-1 … NAME-N")
	count := fs.Int("count", 1, "how many participants join, all at once, in this one process")
	duration := fs.Duration("duration", 10*time.Second, "how long the participants stay once all have joined and connected their media (or failed)")
	publish := fs.String("publish", "audio,video", "what each participant publishes: audio, video, audio,video or none")
	loopback := fs.Bool("loopback", false, "pin ICE to 127.0.0.1 (default: true when the --server host is 127.0.0.1, ::1 or localhost)")
	tcp := fs.Bool("tcp", false, "also connect media over TCP (ICE-TCP), as browsers do, where UDP is blocked")
	connectTimeout := fs.Duration("connect-timeout", 20*time.Second, "how long each participant may take to get a token, join and connect its media")
	progress := fs.Duration("progress", time.Second, "how often to write a progress line to stderr (0: never)")
	videoBitrate := fs.String("video-bitrate", "1.5M", "video to publish: 1.5M (1280x720), 500k (640x360), 150k (320x180) at 30 fps, the nearest of them to another bitrate, or pattern (the 110 kbit/s test pattern)")
	simulcast := fs.Bool("simulcast", false, "publish video as three simulcast encodings (150k, 500k and 1.5M at once)")
	quality := fs.String("quality", "auto", "the layer to receive of every remote video: auto, low, medium or high")
	delay := fs.Duration("delay", 0, "hold every packet the participants receive for this long (e.g. 100ms), to try a distant link")
	loss := fs.Float64("loss", 0, "drop this share (0 to 0.5, e.g. 0.05) of the packets each participant sends, at random, as a lossy uplink would")
	rejoin := fs.Bool("rejoin", false, "a participant whose connection drops (its server went away, its media failed; not a kick, an end or a deleted room) joins again, through the next --server, until the run ends")
	view := fs.String("view", "", "the size each remote video is shown at, WIDTHxHEIGHT (e.g. 320x180): the server sends the layer that fits; empty: no limit")
	fs.Usage = usageWith(fs, stderr, botUsage)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "roomsd bot: "+format+"\nRun \"roomsd bot --help\" for the flags.\n", a...)
		return 2
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q", fs.Arg(0))
	}
	audio, video, err := bot.ParsePublish(*publish)
	if err != nil {
		return usageErr("--publish: %v", err)
	}
	var bases []string
	for _, s := range strings.Split(*server, ",") {
		base, err := bot.BaseURL(s)
		if err != nil {
			return usageErr("--server: %v", err)
		}
		bases = append(bases, base)
	}
	switch {
	case *room == "":
		return usageErr("--room is required: the id of a room (create one with POST /v2/rooms)")
	case *apiKey == "":
		return usageErr("--api-key is required (or set ROOMSD_API_KEY)")
	case *count < 1:
		return usageErr("--count %d: at least 1", *count)
	case *duration < 0 || *connectTimeout <= 0 || *progress < 0:
		return usageErr("--duration, --connect-timeout and --progress must not be negative")
	case *delay < 0 || *delay > bot.MaxDelay:
		return usageErr("--delay %v: from 0 to %v", *delay, bot.MaxDelay)
	case *loss < 0 || *loss > bot.MaxLoss:
		return usageErr("--loss %v: from 0 to %v", *loss, bot.MaxLoss)
	}
	clip, err := bot.ParseVideoBitrate(*videoBitrate)
	if err != nil {
		return usageErr("--video-bitrate: %v", err)
	}
	viewW, viewH, err := bot.ParseView(*view)
	if err != nil {
		return usageErr("--view: %v", err)
	}
	if err := bot.CheckQuality(*quality); err != nil {
		return usageErr("--quality: %v", err)
	}
	pinned := bot.IsLoopbackServer(bases[0])
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "loopback" {
			pinned = *loopback
		}
	})

	report, err := bot.Run(ctx, bot.Config{
		Server: strings.Join(bases, ","), Rejoin: *rejoin, APIKey: *apiKey, Room: *room, Context: *name, Count: *count, Duration: *duration,
		Audio: audio, Video: video, Loopback: pinned, TCP: *tcp, ConnectTimeout: *connectTimeout,
		VideoClip: clip, Simulcast: *simulcast, Quality: *quality, ViewWidth: viewW, ViewHeight: viewH, Delay: *delay, Loss: *loss,
		Log: stderr, ProgressEvery: *progress, Snapshot: snapshot,
	})
	if err != nil {
		return usageErr("%v", err)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(report); err != nil {
		fmt.Fprintf(stderr, "roomsd bot: %v\n", err)
		return 1
	}
	if report.Failed > 0 {
		fmt.Fprintf(stderr, "roomsd bot: %d of %d participants failed\n", report.Failed, *count)
		return 1
	}
	return 0
}
