package links

import (
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/roomsd/roomsd/internal/bot"
)

// publisherID waits for the publisher bot's participant id from the
// server: the subscribers' reports are keyed by it.
func publisherID(t *testing.T, r *bot.Report) string {
	t.Helper()
	for id := range r.Participants[0].Received {
		return id
	}
	t.Fatal("the subscriber received nothing")
	return ""
}

// A subscriber whose link carries 400 kbit/s receives the low layer of a
// simulcast camera, smoothly, with its audio whole, while a subscriber on
// a fast link in the same room receives the high one; when the limit is
// lifted, the slow subscriber climbs back to the high layer.
func TestSlowSubscriberGetsTheLowLayer(t *testing.T) {
	l := newLab(t)
	s := l.startServer()
	room := s.room(t)
	pubHost, slowHost, fastHost := l.host("pub"), l.host("slow"), l.host("fast")
	slowHost.limit("400kbit")

	pub := s.bot(t, pubHost, "camera", room, "--simulcast", "--duration", "10m")
	const limited, lifted = 25 * time.Second, 25 * time.Second
	slow := s.bot(t, slowHost, "slow", room, "--publish", "none", "--view", "1280x720", "--duration", (limited + lifted).String())
	fast := s.bot(t, fastHost, "fast", room, "--publish", "none", "--view", "1280x720", "--duration", (limited + lifted).String())
	start := time.Now()

	// The limit is lifted once the bots have run for limited (they start
	// together; both run limited+lifted).
	time.Sleep(limited) // the test's own schedule: the link changes at a set time
	liftedAt := time.Now()
	slowHost.unlimit()
	sr := slow.wait(t, lifted+time.Minute)
	fr := fast.wait(t, time.Minute)
	if pr := pub.stop(t); len(pr.Participants) == 1 && pr.Participants[0].SendErrors > 0 {
		t.Logf("the publisher could not send %d frames (first: %s)", pr.Participants[0].SendErrors, pr.Participants[0].SendError)
	}
	if fr.Failed+sr.Failed > 0 {
		t.Fatalf("participants failed: fast %+v slow %+v", fr.Participants, sr.Participants)
	}
	camera := publisherID(t, sr)
	fv, sv, sa := received(t, fr, camera, "video"), received(t, sr, camera, "video"), received(t, sr, camera, "audio")
	t.Logf("fast: video %dx%d %d kbit/s, %d freezes (longest gap %d ms), sizes %v", fv.Width, fv.Height, fv.Kbps, fv.Freezes, fv.LongestGap, fv.Sizes)
	t.Logf("slow: video %d kbit/s, %d freezes (longest gap %d ms), sizes %v; audio %d packets, %d lost",
		sv.Kbps, sv.Freezes, sv.LongestGap, sv.Sizes, sa.Packets, sa.Lost)

	if fv.Height != 720 {
		t.Errorf("the fast subscriber ends on a %d-line layer, want 720", fv.Height)
	}
	// While limited, the slow subscriber settles on the low layer.
	startedAt := sr.StartedAt
	liftMS := liftedAt.Sub(startedAt).Milliseconds()
	var beforeLift, afterLift []bot.Size
	for _, z := range sv.Sizes {
		if z.AtMS < liftMS {
			beforeLift = append(beforeLift, z)
		} else {
			afterLift = append(afterLift, z)
		}
	}
	if len(beforeLift) == 0 || beforeLift[len(beforeLift)-1].Height != 180 {
		t.Errorf("limited to 400 kbit/s, the slow subscriber's layers were %v, want to end on 180 lines", beforeLift)
	}
	// A gap the fast subscriber saw as well is the publisher's (a bot
	// stalled on this busy machine), not the slow link's.
	if sv.LongestGap > 1000 && sv.LongestGap > fv.LongestGap+200 {
		t.Errorf("the slow subscriber's video froze for %d ms (the fast one's longest gap: %d ms), want no gap over 1 s", sv.LongestGap, fv.LongestGap)
	}
	if sa.Lost*100 > sa.Packets*2 {
		t.Errorf("the slow subscriber lost %d of %d audio packets, want under 2 %%", sa.Lost, sa.Lost+sa.Packets)
	}
	// Lifted, it climbs back to the high layer.
	climbed := int64(-1)
	for _, z := range afterLift {
		if z.Height == 720 {
			climbed = z.AtMS - liftMS
			break
		}
	}
	t.Logf("limit lifted %v after the start; the slow subscriber reached 720 lines %d ms later", liftedAt.Sub(start).Round(time.Millisecond), climbed)
	if climbed < 0 || climbed > 10_000 {
		t.Errorf("after the limit was lifted the slow subscriber reached the high layer after %d ms, want within 10 s (sizes %v)", climbed, afterLift)
	}
}

// Over a link that loses 5 % of its packets both ways and delays what the
// subscriber receives by 100 ms, video and audio go on: lost packets are
// asked for again (NACK) and resent (RTX for video, the media stream for
// audio), so almost none stay missing, and no frame gap reaches a second.
func TestLossyDistantLink(t *testing.T) {
	l := newLab(t)
	s := l.startServer()
	room := s.room(t)
	pubHost, lossy := l.host("pub"), l.host("lossy")
	lossy.loss(0.05)
	pub := s.bot(t, pubHost, "camera", room, "--video-bitrate", "500k", "--duration", "10m")
	sub := s.bot(t, lossy, "far", room, "--publish", "none", "--delay", "100ms", "--duration", "30s")
	r := sub.wait(t, 2*time.Minute)
	pub.stop(t)
	if r.Failed > 0 {
		t.Fatalf("the subscriber failed: %+v", r.Participants)
	}
	camera := publisherID(t, r)
	v, a := received(t, r, camera, "video"), received(t, r, camera, "audio")
	vExpected, aExpected := v.Packets+v.Lost, a.Packets+a.Lost
	t.Logf("video: %d of %d packets (%d still missing), %d kbit/s, %d frames, %d freezes, longest gap %d ms",
		v.Packets, vExpected, v.Lost, v.Kbps, v.Frames, v.Freezes, v.LongestGap)
	t.Logf("audio: %d of %d packets (%.1f %%)", a.Packets, aExpected, 100*float64(a.Packets)/float64(aExpected))
	// Measured: none left of 5 %; a packet lost in the last round trip
	// before the subscriber leaves cannot be recovered.
	if vExpected == 0 || float64(v.Lost) > 0.01*float64(vExpected) {
		t.Errorf("video: %d of %d packets never arrived, want under 1 %% once resent (the link loses 5 %%)", v.Lost, vExpected)
	}
	if v.LongestGap > 1000 {
		t.Errorf("video froze for %d ms", v.LongestGap)
	}
	// Without retransmission the link would deliver 95 % (give or take
	// 0.6 % over some 1,500 packets); resent, measured 99.9 %.
	if aExpected == 0 || float64(a.Packets) < 0.97*float64(aExpected) {
		t.Errorf("audio: %d of %d delivered, want at least 97 %% once resent (the link loses 5 %%)", a.Packets, aExpected)
	}
}

// A participant whose media connection fails mid-run (all its UDP
// dropped; its signaling, over TCP, goes on) counts as failed in the bot's
// report, with the reason, not as a participant that took part. (The
// report used to be made before the participant's failure was noted.)
func TestMediaFailureMidRunCountsAsFailed(t *testing.T) {
	l := newLab(t)
	s := l.startServer()
	room := s.room(t)
	cut := l.host("cut")
	b := s.bot(t, cut, "cut", room, "--publish", "audio", "--duration", "10m", "--progress", "200ms")
	b.waitStderr(t, "connected=1/1 failed=0", time.Minute)
	cut.blockUDP()
	// ICE gives up on a silent path after some 30 s; the server drops
	// the participant, and with nobody left the bot's run ends.
	r := b.wait(t, 2*time.Minute)
	if r.Failed != 1 || len(r.Participants) != 1 || r.Participants[0].Error == "" {
		t.Fatalf("report: %d failed, participants %+v; want the one participant failed, with its reason", r.Failed, r.Participants)
	}
	t.Logf("reported: %s", r.Participants[0].Error)
}

// A simulcast publisher whose uplink loses packets resends them (the
// server asks, NACK) on each encoding's RTX stream; the retransmissions
// name their encoding as repaired (repaired-rtp-stream-id), so no
// encoding is taken to have moved to its RTX stream, and a subscriber on
// a fast link keeps receiving the high layer. (With the rid on them, the
// upper layers went silent at the first retransmission.)
func TestLossyPublisherKeepsItsLayers(t *testing.T) {
	l := newLab(t)
	s := l.startServer()
	room := s.room(t)
	pubHost, fastHost := l.host("pub"), l.host("fast")
	pubHost.loss(0.02)
	pub := s.bot(t, pubHost, "camera", room, "--simulcast", "--duration", "10m")
	fast := s.bot(t, fastHost, "fast", room, "--publish", "none", "--view", "1280x720", "--duration", "20s")
	fr := fast.wait(t, time.Minute)
	pub.stop(t)
	if fr.Failed > 0 {
		t.Fatalf("the subscriber failed: %+v", fr.Participants)
	}
	fv := received(t, fr, publisherID(t, fr), "video")
	t.Logf("fast: video %dx%d %d kbit/s, %d freezes (longest gap %d ms), sizes %v", fv.Width, fv.Height, fv.Kbps, fv.Freezes, fv.LongestGap, fv.Sizes)
	if fv.Height != 720 {
		t.Errorf("the subscriber ends on a %d-line layer, want 720", fv.Height)
	}
}

// A participant on a network that drops all UDP (its own and the
// server's) joins all the same: its media goes over TCP to the media
// port (ICE-TCP), both ways, and the server counts a TCP media path.
func TestUDPBlockedJoinsOverTCP(t *testing.T) {
	l := newLab(t)
	s := l.startServer()
	room := s.room(t)
	open, walled := l.host("open"), l.host("walled")
	walled.blockUDP()
	pub := s.bot(t, open, "camera", room, "--duration", "10m")
	sub := s.bot(t, walled, "walled", room, "--tcp", "--duration", "10s", "--progress", "200ms")
	sub.waitStderr(t, "connected=1/1 failed=0", time.Minute)
	if tcp := s.mediaPaths(t, "tcp"); tcp != 1 {
		t.Errorf("media paths over TCP: %v; want the walled participant's", tcp)
	}
	r := sub.wait(t, 2*time.Minute)
	pr := pub.stop(t)
	if r.Failed > 0 || pr.Failed > 0 {
		t.Fatalf("failed: walled %+v, open %+v", r.Participants, pr.Participants)
	}
	camera := publisherID(t, r)
	if v, a := received(t, r, camera, "video"), received(t, r, camera, "audio"); v.Frames == 0 || a.Packets == 0 {
		t.Errorf("the walled participant received %d video frames and %d audio packets", v.Frames, a.Packets)
	}
	walledID := publisherID(t, pr)
	if v := received(t, pr, walledID, "video"); v.Frames == 0 {
		t.Errorf("the open participant received %d video frames from the walled one", v.Frames)
	}
}

// A participant on a network that lets through nothing but TCP to two
// ports of the server (HTTPS, and TURN over TLS) joins through the
// embedded TURN server over TLS, and media goes both ways; the server
// counts a relayed media path.
func TestOnlyTURNOverTLSGetsThrough(t *testing.T) {
	l := newLab(t)
	turnTLS := freeTCPPort(t)
	s := l.startHTTPSServer("ROOMSD_TURN=on", "ROOMSD_TURN_PORT=0", "ROOMSD_TURN_TLS_PORT="+strconv.Itoa(turnTLS),
		"ROOMSD_RTC_PUBLIC_IP="+l.server)
	u, err := url.Parse(s.url)
	if err != nil {
		t.Fatal(err)
	}
	https, _ := strconv.Atoi(u.Port())
	room := s.room(t)
	open, walled := l.host("open"), l.host("walled")
	walled.only(l.server, https, turnTLS)
	pub := s.bot(t, open, "camera", room, "--duration", "10m")
	sub := s.bot(t, walled, "walled", room, "--tcp", "--duration", "10s", "--progress", "200ms")
	sub.waitStderr(t, "connected=1/1 failed=0", 2*time.Minute)
	if relayed := s.metric(t, "roomsd_media_connections", `candidate="relay"`); relayed != 1 {
		t.Errorf("relayed media paths: %v; want the walled participant's", relayed)
	}
	r := sub.wait(t, 2*time.Minute)
	pr := pub.stop(t)
	if r.Failed > 0 || pr.Failed > 0 {
		t.Fatalf("failed: walled %+v, open %+v", r.Participants, pr.Participants)
	}
	camera := publisherID(t, r)
	if v, a := received(t, r, camera, "video"), received(t, r, camera, "audio"); v.Frames == 0 || a.Packets == 0 {
		t.Errorf("the walled participant received %d video frames and %d audio packets", v.Frames, a.Packets)
	}
	if v := received(t, pr, publisherID(t, pr), "video"); v.Frames == 0 {
		t.Errorf("the open participant received %d video frames from the walled one", v.Frames)
	}
}
