package main

// Usage (see run.sh):
//   opuseval gen    DIR                 write test signals (s16le) for ffmpeg
//   opuseval goenc  DIR APP CPLX        encode mono signal with both Go encoders -> Ogg
//   opuseval godec  DIR                 decode libopus-made Ogg files with both Go decoders, compare to ffmpeg/libopus decode
//   opuseval encrep DIR NAME...         SNR/tone report of ffmpeg decodes (DIR/NAME.s16) vs original
//   opuseval plc    DIR                 10% loss PLC check

import (
	"fmt"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"

	"github.com/kazzmir/opus-go/opus"
	"github.com/thesyncim/gopus"
)

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func main() {
	if len(os.Args) < 3 {
		fmt.Println("usage: opuseval gen|goenc|godec|encrep|plc DIR ...")
		os.Exit(2)
	}
	dir := os.Args[2]
	switch os.Args[1] {
	case "gen":
		must(writeS16(filepath.Join(dir, "sig_mono.s16"), signal(1)))
		must(writeS16(filepath.Join(dir, "sig_stereo.s16"), signal(2)))
	case "goenc":
		// goenc DIR APP BITRATE [COMPLEXITY]
		app, cplx := os.Args[3], -1
		br, _ := strconv.Atoi(os.Args[4])
		if len(os.Args) > 5 {
			cplx, _ = strconv.Atoi(os.Args[5])
		}
		goEncode(dir, app, br, cplx)
	case "godec": // names: ref_<name>.opus; channel count from OpusHead
		for _, name := range os.Args[3:] {
			goDecode(dir, name)
		}
	case "encrep":
		orig := i16ToF64(signal(1))
		fmt.Printf("%-28s %6s %9s %8s %8s %8s\n", "encoder(decoded by libopus)", "lag", "SNR(dB)", "300Hz", "1kHz", "2.5kHz")
		for _, name := range os.Args[3:] {
			if name == "-" {
				fmt.Println()
				continue
			}
			d, err := readS16(filepath.Join(dir, name+".s16"))
			must(err)
			t := i16ToF64(d)
			lag := bestLag(orig, t, 2000)
			s := snr(orig, t, lag, 4800)
			tr := toneRetention(orig, t, lag)
			fmt.Printf("%-28s %6d %9.2f %+7.2f %+7.2f %+7.2f   (tone power decoded/orig, dB)\n", name, lag, s, tr[0], tr[1], tr[2])
		}
	case "plc": // plc DIR [name...] (default: mono)
		names := os.Args[3:]
		if len(names) == 0 {
			names = []string{"mono"}
		}
		for _, n := range names {
			plc(dir, n)
		}
	case "toc":
		_, pk, err := readOggOpus(filepath.Join(dir, os.Args[3]+".opus"))
		must(err)
		fmt.Printf("libopus enc %-14s: %s\n", os.Args[3], tocSummary(pk))
	default:
		fmt.Println("unknown command")
		os.Exit(2)
	}
}

func goEncode(dir, app string, bitrate, cplx int) {
	pcm := signal(1)
	gApp, kApp := gopus.ApplicationVoIP, opus.ApplicationVoIP
	if app == "audio" {
		gApp, kApp = gopus.ApplicationAudio, opus.ApplicationAudio
	}
	suffix := app + "_" + strconv.Itoa(bitrate/1000) + "k"
	if cplx >= 0 {
		suffix += "_c" + strconv.Itoa(cplx)
	}

	// gopus
	ge, err := gopus.NewEncoder(gopus.EncoderConfig{SampleRate: sampleRate, Channels: 1, Application: gApp})
	must(err)
	must(ge.SetBitrate(bitrate))
	if cplx >= 0 {
		must(ge.SetComplexity(cplx))
	}
	gLook := ge.Lookahead()
	nFrames := (len(pcm) + gLook + frameSize - 1) / frameSize
	padded := make([]int16, nFrames*frameSize)
	copy(padded, pcm)
	f32 := i16ToF32(padded)
	var gPk [][]byte
	buf := make([]byte, 4000)
	for i := 0; i < nFrames; i++ {
		n, err := ge.Encode(f32[i*frameSize:(i+1)*frameSize], buf)
		must(err)
		gPk = append(gPk, append([]byte(nil), buf[:n]...))
	}
	must(writeOggOpus(filepath.Join(dir, "gopus_enc_"+suffix+".opus"), 1, gLook, len(pcm), gPk))
	fmt.Printf("gopus   enc %-10s complexity=%d lookahead=%d: %s\n", suffix, ge.Complexity(), gLook, tocSummary(gPk))

	// kazzmir/opus-go
	ke, err := opus.NewEncoder(sampleRate, 1, kApp)
	must(err)
	defer ke.Close()
	must(ke.SetBitrate(bitrate))
	if cplx >= 0 {
		must(ke.SetComplexity(cplx))
	}
	kLook, err := ke.Lookahead()
	must(err)
	var kPk [][]byte
	for i := 0; i < nFrames; i++ {
		n, err := ke.Encode(padded[i*frameSize:(i+1)*frameSize], frameSize, buf)
		must(err)
		kPk = append(kPk, append([]byte(nil), buf[:n]...))
	}
	must(writeOggOpus(filepath.Join(dir, "kazz_enc_"+suffix+".opus"), 1, kLook, len(pcm), kPk))
	fmt.Printf("kazzmir enc %-10s complexity=%s lookahead=%d: %s\n", suffix, map[bool]string{true: "default", false: strconv.Itoa(cplx)}[cplx < 0], kLook, tocSummary(kPk))
}

type decStats struct {
	snr      float64
	exact    float64 // fraction of bit-identical samples
	maxDiff  float64
	lagCheck int
}

func compare(ref, test []float64, scale float64) decStats {
	n := min(len(ref), len(test))
	same := 0
	maxd := 0.0
	for i := 0; i < n; i++ {
		d := math.Abs(ref[i] - test[i])
		if d == 0 {
			same++
		}
		maxd = max(maxd, d)
	}
	return decStats{snr: snr(ref[:n], test[:n], 0, 0), exact: float64(same) / float64(n), maxDiff: maxd * scale,
		lagCheck: bestLag(ref[:n], test[:n], 50)}
}

func goDecode(dir, name string) {
	head, pkts, err := readOggOpus(filepath.Join(dir, "ref_"+name+".opus"))
	must(err)
	ch := head.Channels
	refF32, err := readF32(filepath.Join(dir, "ref_"+name+".f32"))
	must(err)
	refS16, err := readS16(filepath.Join(dir, "ref_"+name+".s16"))
	must(err)
	fmt.Printf("\n[%s] libopus(ffmpeg) stream: preskip=%d, %s\n", name, head.PreSkip, tocSummary(pkts))

	// gopus float and int16
	gd, err := gopus.NewDecoder(gopus.DefaultDecoderConfig(sampleRate, ch))
	must(err)
	gd16, err := gopus.NewDecoder(gopus.DefaultDecoderConfig(sampleRate, ch))
	must(err)
	out := make([]float32, 5760*ch)
	out16 := make([]int16, 5760*ch)
	var gF []float32
	var gS []int16
	for _, p := range pkts {
		n, err := gd.Decode(p, out)
		must(err)
		gF = append(gF, out[:n*ch]...)
		n, err = gd16.DecodeInt16(p, out16)
		must(err)
		gS = append(gS, out16[:n*ch]...)
	}
	// kazzmir int16
	kd, err := opus.NewDecoder(sampleRate, ch)
	must(err)
	defer kd.Close()
	var kS []int16
	for _, p := range pkts {
		n, err := kd.Decode(p, out16, 5760, false)
		must(err)
		kS = append(kS, out16[:n*ch]...)
	}
	ps := head.PreSkip * ch
	gF, gS, kS = gF[ps:], gS[ps:], kS[ps:]

	rf := f32ToF64(refF32)
	rs := i16ToF64(refS16)
	fmt.Printf("%-40s %9s %9s %12s %5s\n", "decoder vs reference", "SNR(dB)", "identical", "max|diff|", "lag")
	pr := func(label string, s decStats, unit string) {
		fmt.Printf("%-40s %9.2f %8.2f%% %9.4g %s %4d\n", label, s.snr, 100*s.exact, s.maxDiff, unit, s.lagCheck)
	}
	pr("gopus float  vs libopus1.3.1 float", compare(rf, f32ToF64(gF), 32768), "lsb")
	pr("gopus int16  vs libopus1.3.1 int16", compare(rs, i16ToF64(gS), 32768), "lsb")
	pr("kazzmir int16 vs libopus1.3.1 int16", compare(rs, i16ToF64(kS), 32768), "lsb")
	pr("gopus int16  vs kazzmir int16", compare(i16ToF64(kS), i16ToF64(gS), 32768), "lsb")
	fmt.Printf("samples: ref=%d gopus=%d kazzmir=%d (interleaved)\n", len(refS16), len(gS), len(kS))
	if ch == 2 {
		for c := 0; c < 2; c++ {
			a := chanOf(rf, 2, c)
			b := chanOf(f32ToF64(gF[:min(len(gF), len(rf))]), 2, c)
			fmt.Printf("  gopus float ch%d SNR %.2f dB\n", c, snr(a[:min(len(a), len(b))], b, 0, 0))
		}
	}
}

// plc: drop 10% of packets (seeded) of the libopus mono stream; conceal with
// each decoder's PLC (nil packet); compare with the loss-free libopus decode.
func plc(dir, name string) {
	head, pkts, err := readOggOpus(filepath.Join(dir, "ref_"+name+".opus"))
	must(err)
	refS16, err := readS16(filepath.Join(dir, "ref_"+name+".s16"))
	must(err)
	rng := rand.New(rand.NewSource(7))
	lost := make([]bool, len(pkts))
	nl := 0
	for i := range lost {
		if i > 5 && rng.Float64() < 0.10 {
			lost[i] = true
			nl++
		}
	}
	gd, _ := gopus.NewDecoder(gopus.DefaultDecoderConfig(sampleRate, 1))
	kd, _ := opus.NewDecoder(sampleRate, 1)
	defer kd.Close()
	var g, k []int16
	gout := make([]int16, 5760)
	kout := make([]int16, 5760)
	gerr, kerr := 0, 0
	for i, p := range pkts {
		if lost[i] {
			// PLC: nil data; output buffer sized to one 20 ms frame
			n, err := gd.DecodeInt16(nil, gout[:frameSize])
			if err != nil {
				gerr++
			}
			g = append(g, gout[:n]...)
			n, err = kd.Decode(nil, kout, frameSize, false)
			if err != nil {
				kerr++
			}
			k = append(k, kout[:n]...)
			continue
		}
		n, err := gd.DecodeInt16(p, gout)
		must(err)
		g = append(g, gout[:n]...)
		n, err = kd.Decode(p, kout, 5760, false)
		must(err)
		k = append(k, kout[:n]...)
	}
	g, k = g[head.PreSkip:], k[head.PreSkip:]
	r := i16ToF64(refS16)
	fmt.Printf("\nPLC [%s]: %d of %d packets dropped (seed 7); errors gopus=%d kazzmir=%d; output samples gopus=%d kazzmir=%d ref=%d\n",
		name, nl, len(pkts), gerr, kerr, len(g), len(k), len(refS16))
	fmt.Printf("  SNR vs loss-free libopus decode: gopus %.2f dB, kazzmir %.2f dB\n",
		snr(r, i16ToF64(g), 0, 0), snr(r, i16ToF64(k), 0, 0))
	s := compare(i16ToF64(k), i16ToF64(g), 32768)
	fmt.Printf("  gopus vs kazzmir (transpiled libopus 1.6.1) with loss: SNR %.2f dB, identical %.2f%%, max diff %.0f lsb\n", s.snr, 100*s.exact, s.maxDiff)
}
