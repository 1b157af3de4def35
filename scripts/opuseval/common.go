package main

// Shared helpers: test-signal generator, a minimal Ogg Opus reader/writer
// (independent of both candidate libraries), SNR / alignment / Goertzel.

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand"
	"os"
)

const (
	sampleRate = 48000
	frameSize  = 960 // 20 ms
	seconds    = 5
	nSamples   = sampleRate * seconds
)

var toneFreqs = []float64{300, 1000, 2500}

// signal returns the test signal selected by env SIGNAL: "synth" (default,
// genSignal) or "speech" (espeak-ng speech in speech.s16, 5 s mono; the stereo
// version has R = 0.7 x speech delayed 7 ms + low noise).
func signal(channels int) []int16 {
	if os.Getenv("SIGNAL") != "speech" {
		return genSignal(channels)
	}
	path := os.Getenv("SPEECH")
	if path == "" {
		path = "out/speech.s16"
	}
	m, err := readS16(path)
	if err != nil || len(m) < nSamples {
		panic(fmt.Sprintf("speech signal %s: %v (run make_speech.sh)", path, err))
	}
	m = m[:nSamples]
	if channels == 1 {
		return m
	}
	rng := rand.New(rand.NewSource(99))
	out := make([]int16, 2*nSamples)
	d := 336
	for i := 0; i < nSamples; i++ {
		out[2*i] = m[i]
		r := 0.0
		if i >= d {
			r = 0.7 * float64(m[i-d])
		}
		r += 100 * rng.NormFloat64()
		out[2*i+1] = int16(max(-32768, min(32767, math.Round(r))))
	}
	return out
}

// genSignal returns interleaved int16 PCM, `channels` channels, 5 s at 48 kHz.
// Speech-like-ish: three tones with 3-7 Hz amplitude modulation, a linear
// chirp 200 Hz -> 6 kHz, and low-level Gaussian noise. Deterministic (seeded).
func genSignal(channels int) []int16 {
	out := make([]int16, nSamples*channels)
	for ch := 0; ch < channels; ch++ {
		rng := rand.New(rand.NewSource(int64(1234 + ch)))
		amps := []float64{0.25, 0.15, 0.08}
		modf := []float64{3, 5, 7}
		f0, f1 := 200.0, 6000.0
		if ch == 1 { // right channel: different mix, reversed chirp
			amps = []float64{0.12, 0.20, 0.10}
			modf = []float64{4, 6, 2.5}
			f0, f1 = 6000.0, 200.0
		}
		for i := 0; i < nSamples; i++ {
			t := float64(i) / sampleRate
			v := 0.0
			for k, f := range toneFreqs {
				env := 1 + 0.8*math.Sin(2*math.Pi*modf[k]*t+float64(k))
				v += amps[k] * env * 0.5 * math.Sin(2*math.Pi*f*t+0.3*float64(k+ch))
			}
			// linear chirp phase: 2π(f0 t + (f1-f0) t²/(2T))
			ph := 2 * math.Pi * (f0*t + (f1-f0)*t*t/(2*seconds))
			v += 0.08 * math.Sin(ph)
			v += 0.01 * rng.NormFloat64()
			s := math.Round(v * 32767)
			if s > 32767 {
				s = 32767
			}
			if s < -32768 {
				s = -32768
			}
			out[i*channels+ch] = int16(s)
		}
	}
	return out
}

func i16ToF32(in []int16) []float32 {
	out := make([]float32, len(in))
	for i, v := range in {
		out[i] = float32(v) / 32768
	}
	return out
}

func i16ToF64(in []int16) []float64 {
	out := make([]float64, len(in))
	for i, v := range in {
		out[i] = float64(v) / 32768
	}
	return out
}

func f32ToF64(in []float32) []float64 {
	out := make([]float64, len(in))
	for i, v := range in {
		out[i] = float64(v)
	}
	return out
}

func writeS16(path string, pcm []int16) error {
	b := make([]byte, 2*len(pcm))
	for i, v := range pcm {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(v))
	}
	return os.WriteFile(path, b, 0o644)
}

func readS16(path string) ([]int16, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := make([]int16, len(b)/2)
	for i := range out {
		out[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
	}
	return out, nil
}

func readF32(path string) ([]float32, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out, nil
}

// ---------------------------------------------------------------- Ogg

var crcTable = func() (t [256]uint32) {
	for i := 0; i < 256; i++ {
		c := uint32(i) << 24
		for j := 0; j < 8; j++ {
			if c&0x80000000 != 0 {
				c = c<<1 ^ 0x04c11db7
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return
}()

func oggCRC(b []byte) uint32 {
	var c uint32
	for _, x := range b {
		c = c<<8 ^ crcTable[byte(c>>24)^x]
	}
	return c
}

type OpusHead struct {
	Channels int
	PreSkip  int
}

// readOggOpus returns the OpusHead and the audio packets of a single-stream
// Ogg Opus file (handles packets spanning pages and several packets per page).
func readOggOpus(path string) (OpusHead, [][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return OpusHead{}, nil, err
	}
	defer f.Close()
	r := bufio.NewReader(f)
	var packets [][]byte
	var cur []byte
	for {
		var hdr [27]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return OpusHead{}, nil, err
		}
		if string(hdr[:4]) != "OggS" {
			return OpusHead{}, nil, fmt.Errorf("bad capture pattern")
		}
		nseg := int(hdr[26])
		seg := make([]byte, nseg)
		if _, err := io.ReadFull(r, seg); err != nil {
			return OpusHead{}, nil, err
		}
		total := 0
		for _, s := range seg {
			total += int(s)
		}
		body := make([]byte, total)
		if _, err := io.ReadFull(r, body); err != nil {
			return OpusHead{}, nil, err
		}
		off := 0
		for _, s := range seg {
			cur = append(cur, body[off:off+int(s)]...)
			off += int(s)
			if s < 255 {
				packets = append(packets, cur)
				cur = nil
			}
		}
	}
	if len(packets) < 2 || string(packets[0][:8]) != "OpusHead" {
		return OpusHead{}, nil, fmt.Errorf("not an Ogg Opus file")
	}
	h := OpusHead{Channels: int(packets[0][9]), PreSkip: int(binary.LittleEndian.Uint16(packets[0][10:]))}
	return h, packets[2:], nil // skip OpusHead + OpusTags
}

type oggWriter struct {
	w      io.Writer
	serial uint32
	seq    uint32
}

func (o *oggWriter) page(headerType byte, granule uint64, data []byte) error {
	var seg []byte
	n := len(data)
	for n >= 255 {
		seg = append(seg, 255)
		n -= 255
	}
	seg = append(seg, byte(n))
	if len(seg) > 255 {
		return fmt.Errorf("packet too large for one page")
	}
	p := make([]byte, 27, 27+len(seg)+len(data))
	copy(p, "OggS")
	p[5] = headerType
	binary.LittleEndian.PutUint64(p[6:], granule)
	binary.LittleEndian.PutUint32(p[14:], o.serial)
	binary.LittleEndian.PutUint32(p[18:], o.seq)
	p[26] = byte(len(seg))
	p = append(p, seg...)
	p = append(p, data...)
	binary.LittleEndian.PutUint32(p[22:], oggCRC(p))
	o.seq++
	_, err := o.w.Write(p)
	return err
}

// writeOggOpus writes one packet per page. Granule positions follow RFC 7845
// (they include pre-skip); the last page's granule trims the stream to
// preSkip+origLen samples.
func writeOggOpus(path string, channels, preSkip, origLen int, packets [][]byte) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	bw := bufio.NewWriter(f)
	o := &oggWriter{w: bw, serial: 0x5eed}
	head := make([]byte, 19)
	copy(head, "OpusHead")
	head[8] = 1
	head[9] = byte(channels)
	binary.LittleEndian.PutUint16(head[10:], uint16(preSkip))
	binary.LittleEndian.PutUint32(head[12:], sampleRate)
	if err := o.page(2, 0, head); err != nil {
		return err
	}
	tags := []byte("OpusTags")
	tags = binary.LittleEndian.AppendUint32(tags, 8)
	tags = append(tags, "opuseval"...)
	tags = binary.LittleEndian.AppendUint32(tags, 0)
	if err := o.page(0, 0, tags); err != nil {
		return err
	}
	end := uint64(preSkip + origLen)
	for i, p := range packets {
		g := uint64((i + 1) * frameSize)
		ht := byte(0)
		if i == len(packets)-1 {
			ht = 4
			if g > end {
				g = end
			}
		}
		if err := o.page(ht, g, p); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// ---------------------------------------------------------------- metrics

// deinterleave extracts channel ch.
func chanOf(x []float64, channels, ch int) []float64 {
	out := make([]float64, len(x)/channels)
	for i := range out {
		out[i] = x[i*channels+ch]
	}
	return out
}

// bestLag finds lag L in [-maxLag,maxLag] maximising sum ref[i]*test[i+L]
// (computed on a 1-second window for speed).
func bestLag(ref, test []float64, maxLag int) int {
	start, n := sampleRate, sampleRate
	if start+n+maxLag > len(ref) || start+n+maxLag > len(test) {
		start, n = maxLag, min(len(ref), len(test))-2*maxLag
	}
	best, bestL := math.Inf(-1), 0
	for L := -maxLag; L <= maxLag; L++ {
		s := 0.0
		for i := start; i < start+n; i++ {
			j := i + L
			if j >= 0 && j < len(test) {
				s += ref[i] * test[j]
			}
		}
		if s > best {
			best, bestL = s, L
		}
	}
	return bestL
}

// snr computes 10log10(Σref²/Σ(ref-test[i+lag])²) over ref[skip : len-skipEnd].
func snr(ref, test []float64, lag, skip int) float64 {
	var sig, noise float64
	for i := skip; i < len(ref)-skip; i++ {
		j := i + lag
		if j < 0 || j >= len(test) {
			continue
		}
		sig += ref[i] * ref[i]
		d := ref[i] - test[j]
		noise += d * d
	}
	if noise == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(sig/noise)
}

// goertzelPower: power at frequency f over x[a:b].
func goertzelPower(x []float64, f float64, a, b int) float64 {
	w := 2 * math.Pi * f / sampleRate
	c := 2 * math.Cos(w)
	var s1, s2 float64
	for i := a; i < b; i++ {
		s := x[i] + c*s1 - s2
		s2, s1 = s1, s
	}
	return s1*s1 + s2*s2 - c*s1*s2
}

// toneRetention returns decoded/original power (dB) for each tone, over the
// aligned middle region.
func toneRetention(ref, test []float64, lag int) []float64 {
	// compare ref[a:b] with test[a+lag:b+lag]
	a, b := sampleRate/2, len(ref)-sampleRate/2
	if b+lag > len(test) {
		b = len(test) - lag
	}
	out := make([]float64, len(toneFreqs))
	for k, f := range toneFreqs {
		pr := goertzelPower(ref, f, a, b)
		pt := goertzelPower(test, f, a+lag, b+lag)
		out[k] = 10 * math.Log10(pt/pr)
	}
	return out
}

// tocSummary: counts of SILK/Hybrid/CELT and bandwidth from TOC bytes.
func tocSummary(packets [][]byte) string {
	modes := map[string]int{}
	bws := map[string]int{}
	bytes := 0
	for _, p := range packets {
		bytes += len(p)
		if len(p) == 0 {
			continue
		}
		cfg := p[0] >> 3
		var m, bw string
		switch {
		case cfg < 12:
			m = "SILK"
			bw = []string{"NB", "MB", "WB"}[cfg/4]
		case cfg < 16:
			m = "Hybrid"
			bw = []string{"SWB", "FB"}[(cfg-12)/2]
		default:
			m = "CELT"
			bw = []string{"NB", "WB", "SWB", "FB"}[(cfg-16)/4]
		}
		modes[m]++
		bws[bw]++
	}
	kbps := float64(bytes*8) / (float64(len(packets)) * 0.02) / 1000
	return fmt.Sprintf("%d pkts, %.1f kbit/s, modes=%v bw=%v", len(packets), kbps, modes, bws)
}
