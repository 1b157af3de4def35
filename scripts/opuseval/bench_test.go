package main

// Benchmarks: one op = decode one 20 ms mono packet / encode one 20 ms mono frame.
// Needs out/ref_mono.opus etc. from run.sh.
//   go test -run '^$' -bench . -benchmem -count=5

import (
	"os"
	"testing"

	"github.com/kazzmir/opus-go/opus"
	"github.com/thesyncim/gopus"
)

func loadPk(b *testing.B, name string) [][]byte {
	dir := os.Getenv("OUT")
	if dir == "" {
		dir = "out"
	}
	_, pk, err := readOggOpus(dir + "/ref_" + name + ".opus")
	if err != nil {
		b.Skip("run run.sh first:", err)
	}
	return pk
}

// streams: "mono" = libopus VoIP 32 kbit/s (75% CELT / 25% Hybrid FB),
// "mono_audio64k" = CELT-only 64 kbit/s, "mono_voip12k" = SILK-only WB.
var benchStreams = []string{"mono", "mono_voip12k", "mono_audio64k"}

func BenchmarkDecode(b *testing.B) {
	for _, s := range benchStreams {
		pk := loadPk(b, s)
		b.Run("gopus/"+s, func(b *testing.B) {
			d, _ := gopus.NewDecoder(gopus.DefaultDecoderConfig(sampleRate, 1))
			out := make([]float32, 5760)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := d.Decode(pk[i%len(pk)], out); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("kazzmir/"+s, func(b *testing.B) {
			d, _ := opus.NewDecoder(sampleRate, 1)
			defer d.Close()
			out := make([]int16, 5760)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := d.Decode(pk[i%len(pk)], out, 5760, false); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEncode(b *testing.B) {
	pcm := signal(1)
	f32 := i16ToF32(pcm)
	nf := len(pcm) / frameSize
	for _, c := range []struct {
		name string
		app  string
		br   int
	}{{"voip32k", "voip", 32000}, {"audio64k", "audio", 64000}} {
		b.Run("gopus/"+c.name, func(b *testing.B) {
			app := gopus.ApplicationVoIP
			if c.app == "audio" {
				app = gopus.ApplicationAudio
			}
			e, _ := gopus.NewEncoder(gopus.EncoderConfig{SampleRate: sampleRate, Channels: 1, Application: app})
			e.SetBitrate(c.br)
			buf := make([]byte, 4000)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				k := i % nf
				if _, err := e.Encode(f32[k*frameSize:(k+1)*frameSize], buf); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("kazzmir/"+c.name, func(b *testing.B) {
			app := opus.ApplicationVoIP
			if c.app == "audio" {
				app = opus.ApplicationAudio
			}
			e, _ := opus.NewEncoder(sampleRate, 1, app)
			defer e.Close()
			e.SetBitrate(c.br)
			buf := make([]byte, 4000)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				k := i % nf
				if _, err := e.Encode(pcm[k*frameSize:(k+1)*frameSize], frameSize, buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// gopus encoder cost vs complexity (VoIP, 32 kbit/s, mono).
func BenchmarkGopusEncodeComplexity(b *testing.B) {
	f32 := i16ToF32(signal(1))
	nf := len(f32) / frameSize
	for _, c := range []int{0, 3, 5, 7, 9, 10} {
		b.Run("c"+string(rune('0'+c/10))+string(rune('0'+c%10)), func(b *testing.B) {
			e, _ := gopus.NewEncoder(gopus.EncoderConfig{SampleRate: sampleRate, Channels: 1, Application: gopus.ApplicationVoIP})
			e.SetBitrate(32000)
			e.SetComplexity(c)
			buf := make([]byte, 4000)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				k := i % nf
				e.Encode(f32[k*frameSize:(k+1)*frameSize], buf)
			}
		})
	}
}
