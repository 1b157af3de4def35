package bot

import (
	"context"
	"testing"

	"github.com/roomsd/roomsd/internal/client"
)

func TestParsePublish(t *testing.T) {
	for in, want := range map[string][2]bool{"audio": {true, false}, "video": {false, true}, "audio,video": {true, true},
		"video, audio": {true, true}, "none": {false, false}} {
		a, v, err := ParsePublish(in)
		if err != nil || a != want[0] || v != want[1] {
			t.Errorf("ParsePublish(%q) = %v %v %v", in, a, v, err)
		}
	}
	for _, in := range []string{"screen", "audio,", "Audio"} {
		if _, _, err := ParsePublish(in); err == nil {
			t.Errorf("ParsePublish(%q) accepted", in)
		}
	}
}

func TestServerURLs(t *testing.T) {
	for in, want := range map[string]string{"http://127.0.0.1:8080": "http://127.0.0.1:8080", "http://h:1/v2/": "http://h:1",
		"https://rooms.example.com/v2": "https://rooms.example.com"} {
		if got, err := BaseURL(in); err != nil || got != want {
			t.Errorf("BaseURL(%q) = %q %v, want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"127.0.0.1:8080", "ws://h", "http://", ""} {
		if _, err := BaseURL(in); err == nil {
			t.Errorf("BaseURL(%q) accepted", in)
		}
	}
	for in, want := range map[string]bool{"http://127.0.0.1:1": true, "http://localhost": true, "http://[::1]:8080": true,
		"http://10.0.0.1:8080": false, "https://rooms.example.com": false} {
		if IsLoopbackServer(in) != want {
			t.Errorf("IsLoopbackServer(%q) != %v", in, want)
		}
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	for _, c := range []Config{{Server: "x", APIKey: "k", Room: "r", Count: 1}, {Server: "http://h", APIKey: "k", Count: 1},
		{Server: "http://h", Room: "r", Count: 1}, {Server: "http://h", APIKey: "k", Room: "r"}} {
		if _, err := Run(context.Background(), c); err == nil {
			t.Errorf("Run(%+v) accepted", c)
		}
	}
}

// --video-bitrate picks the nearest clip; --view takes WIDTHxHEIGHT.
func TestParseVideoFlags(t *testing.T) {
	for in, want := range map[string]client.VideoClip{"pattern": client.VideoPattern, "1.5M": client.VideoHigh, "2m": client.VideoHigh,
		"500k": client.VideoMedium, "800000": client.VideoMedium, "150k": client.VideoLow, "64k": client.VideoLow} {
		if got, err := ParseVideoBitrate(in); err != nil || got != want {
			t.Errorf("ParseVideoBitrate(%q) = %v %v, want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "fast", "-1k", "0", "1.5G", "+Infm"} {
		if _, err := ParseVideoBitrate(in); err == nil {
			t.Errorf("ParseVideoBitrate(%q) accepted", in)
		}
	}
	if w, h, err := ParseView("320x180"); err != nil || w != 320 || h != 180 {
		t.Errorf("ParseView(320x180) = %d %d %v", w, h, err)
	}
	if w, h, err := ParseView(""); err != nil || w != 0 || h != 0 {
		t.Errorf("ParseView(\"\") = %d %d %v", w, h, err)
	}
	for _, in := range []string{"320", "x180", "320x", "0x180", "-1x2", "20000x10", "axb"} {
		if _, _, err := ParseView(in); err == nil {
			t.Errorf("ParseView(%q) accepted", in)
		}
	}
}
