package main

// API-behaviour checks. Run:  go test -run 'Test' -v -count=1 .   (and with -race for TestConcurrent*)

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/kazzmir/opus-go/opus"
	"github.com/thesyncim/gopus"
)

const nTestFrames = 60

func gopusEncodeAll(f32 []float32) [][]byte {
	e, _ := gopus.NewEncoder(gopus.EncoderConfig{SampleRate: sampleRate, Channels: 1, Application: gopus.ApplicationVoIP})
	e.SetBitrate(32000)
	d, _ := gopus.NewDecoder(gopus.DefaultDecoderConfig(sampleRate, 1))
	buf := make([]byte, 4000)
	out := make([]float32, 5760)
	var r [][]byte
	for i := 0; i < nTestFrames; i++ {
		n, _ := e.Encode(f32[i*frameSize:(i+1)*frameSize], buf)
		m, _ := d.Decode(buf[:n], out)
		r = append(r, append(append([]byte(nil), buf[:n]...), byte(m>>8), byte(m)))
	}
	return r
}

func kazzEncodeAll(pcm []int16) [][]byte {
	e, _ := opus.NewEncoder(sampleRate, 1, opus.ApplicationAudio)
	defer e.Close()
	e.SetBitrate(64000)
	d, _ := opus.NewDecoder(sampleRate, 1)
	defer d.Close()
	buf := make([]byte, 4000)
	out := make([]int16, 5760)
	var r [][]byte
	for i := 0; i < nTestFrames; i++ {
		n, _ := e.Encode(pcm[i*frameSize:(i+1)*frameSize], frameSize, buf)
		m, _ := d.Decode(buf[:n], out, 5760, false)
		r = append(r, append(append([]byte(nil), buf[:n]...), byte(m>>8), byte(m)))
	}
	return r
}

// Independent instances in parallel goroutines must give the same bytes as a
// sequential run (no hidden shared state). Run with -race.
func TestConcurrentIndependentInstances(t *testing.T) {
	pcm := genSignal(1)
	f32 := i16ToF32(pcm)
	libs := []string{"gopus", "kazzmir"}
	if l := os.Getenv("LIBS"); l != "" {
		libs = strings.Split(l, ",")
	}
	for _, lib := range libs {
		run := func() [][]byte {
			if lib == "gopus" {
				return gopusEncodeAll(f32)
			}
			return kazzEncodeAll(pcm)
		}
		want := run()
		var wg sync.WaitGroup
		bad := make([]bool, 4)
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				got := run()
				for i := range want {
					if !bytes.Equal(got[i], want[i]) {
						bad[g] = true
					}
				}
			}(g)
		}
		wg.Wait()
		t.Logf("%s: 4 goroutines with own encoder+decoder, outputs identical to sequential run: %v", lib, !(bad[0] || bad[1] || bad[2] || bad[3]))
		for _, b := range bad {
			if b {
				t.Errorf("%s: concurrent output differs", lib)
			}
		}
	}
}

// kazzmir passes Go slice addresses as uintptr into transpiled C. If the caller's
// buffers live on the goroutine stack and the stack grows during the call, the
// library writes to the old stack. Compare stack-array results vs heap results.
//
//go:noinline
func kazzEncodeStackArrays(e *opus.Encoder, src []int16) []byte {
	var pcm [frameSize]int16 // stays on stack (does not escape)
	var pkt [1500]byte
	copy(pcm[:], src)
	n, err := e.Encode(pcm[:], frameSize, pkt[:])
	if err != nil {
		return nil
	}
	return append([]byte(nil), pkt[:n]...)
}

//go:noinline
func kazzEncodeHeap(e *opus.Encoder, src []int16) []byte {
	pcm := make([]int16, frameSize)
	pkt := make([]byte, 1500)
	sink = pcm // force heap
	sinkB = pkt
	copy(pcm, src)
	n, err := e.Encode(pcm, frameSize, pkt)
	if err != nil {
		return nil
	}
	return append([]byte(nil), pkt[:n]...)
}

var sink []int16
var sinkB []byte

func TestKazzmirStackBuffers(t *testing.T) {
	for _, stack := range []bool{false, true} {
		kazzStackCase(t, stack)
	}
}

func kazzStackCase(t *testing.T, stack bool) {
	pcm := genSignal(1)
	eh, _ := opus.NewEncoder(sampleRate, 1, opus.ApplicationAudio)
	es, _ := opus.NewEncoder(sampleRate, 1, opus.ApplicationAudio)
	defer eh.Close()
	defer es.Close()
	buf := make([]byte, 1500)
	mism := 0
	for i := 0; i < 50; i++ {
		n, _ := eh.Encode(pcm[i*frameSize:(i+1)*frameSize], frameSize, buf)
		want := append([]byte(nil), buf[:n]...)
		ch := make(chan []byte)
		go func() { // fresh goroutine = small stack that must grow during the call
			if stack {
				ch <- kazzEncodeStackArrays(es, pcm[i*frameSize:(i+1)*frameSize])
			} else {
				ch <- kazzEncodeHeap(es, pcm[i*frameSize:(i+1)*frameSize])
			}
		}()
		got := <-ch
		if !bytes.Equal(got, want) {
			mism++
			if mism == 1 {
				t.Logf("  first mismatch frame %d: want len %d %x..., got len %d %x...", i, len(want), want[:min(8, len(want))], len(got), got[:min(8, len(got))])
			}
		}
	}
	t.Logf("kazzmir: encode, caller buffers on stack=%v, in fresh goroutines: %d/50 packets differ from reference run", stack, mism)
}

// PLC with nil packet, FEC recovery, reuse/reset.
func TestLossHandling(t *testing.T) {
	pcm := genSignal(1)
	f32 := i16ToF32(pcm)
	// gopus encoder with in-band FEC at 10% expected loss, SILK-friendly 24 kbit/s VoIP
	e, _ := gopus.NewEncoder(gopus.EncoderConfig{SampleRate: sampleRate, Channels: 1, Application: gopus.ApplicationVoIP})
	e.SetBitrate(24000)
	if err := e.SetInBandFEC(gopus.InBandFECEnabled); err != nil {
		t.Fatal(err)
	}
	e.SetPacketLoss(10)
	buf := make([]byte, 4000)
	var pk [][]byte
	for i := 0; i < nSamples/frameSize; i++ {
		n, _ := e.Encode(f32[i*frameSize:(i+1)*frameSize], buf)
		pk = append(pk, append([]byte(nil), buf[:n]...))
	}
	t.Logf("gopus FEC stream: %s", tocSummary(pk))
	rng := rand.New(rand.NewSource(3))
	lost := make([]bool, len(pk))
	for i := 5; i < len(pk)-1; i++ {
		lost[i] = rng.Float64() < 0.1 && !lost[i-1]
	}
	decodeWith := func(useFEC bool) []float64 {
		d, _ := gopus.NewDecoder(gopus.DefaultDecoderConfig(sampleRate, 1))
		out := make([]float32, 5760)
		var all []float64
		for i := range pk {
			var n int
			var err error
			if lost[i] {
				if useFEC {
					n, err = d.DecodeWithFEC(pk[i+1], out[:frameSize], true)
				} else {
					n, err = d.Decode(nil, out[:frameSize])
				}
			} else {
				n, err = d.Decode(pk[i], out)
			}
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, f32ToF64(out[:n])...)
		}
		return all
	}
	clean := func() []float64 {
		d, _ := gopus.NewDecoder(gopus.DefaultDecoderConfig(sampleRate, 1))
		out := make([]float32, 5760)
		var all []float64
		for i := range pk {
			n, _ := d.Decode(pk[i], out)
			all = append(all, f32ToF64(out[:n])...)
		}
		return all
	}()
	t.Logf("gopus, ~10%% loss: SNR vs loss-free decode: PLC only %.2f dB, with FEC (DecodeWithFEC(next,…,true)) %.2f dB",
		snr(clean, decodeWith(false), 0, 0), snr(clean, decodeWith(true), 0, 0))

	// kazzmir: PLC via nil, FEC via decodeFEC=true on next packet
	d, _ := opus.NewDecoder(sampleRate, 1)
	out := make([]int16, 5760)
	n1, err1 := d.Decode(pk[0], out, 5760, false)
	n2, err2 := d.Decode(nil, out, frameSize, false)
	n3, err3 := d.Decode(pk[2], out, frameSize, true)
	t.Logf("kazzmir: normal %d/%v, PLC(nil) %d/%v, FEC %d/%v", n1, err1, n2, err2, n3, err3)
}

func TestDTX(t *testing.T) {
	// 1 s signal, 2 s digital silence, 1 s signal
	sig := genSignal(1)
	pcm := make([]int16, 4*sampleRate)
	copy(pcm, sig[:sampleRate])
	copy(pcm[3*sampleRate:], sig[sampleRate:2*sampleRate])
	f32 := i16ToF32(pcm)
	for _, dtx := range []bool{false, true} {
		e, _ := gopus.NewEncoder(gopus.EncoderConfig{SampleRate: sampleRate, Channels: 1, Application: gopus.ApplicationVoIP})
		e.SetBitrate(32000)
		e.SetDTX(dtx)
		buf := make([]byte, 4000)
		small, total, bytesTot := 0, 0, 0
		for i := 0; i < len(pcm)/frameSize; i++ {
			n, err := e.Encode(f32[i*frameSize:(i+1)*frameSize], buf)
			if err != nil {
				t.Fatal(err)
			}
			total++
			bytesTot += n
			if n <= 2 {
				small++
			}
		}
		t.Logf("gopus DTX=%v: %d frames (2 s of them silent), %d packets <=2 bytes (DTX/no-transmit), avg %.1f kbit/s", dtx, total, small, float64(bytesTot*8)/4/1000)
	}
}

// A mono decoder must accept stereo packets (WebRTC opus/48000/2 may carry either).
func TestMonoDecoderStereoPackets(t *testing.T) {
	_, pk, err := readOggOpus("out/ref_stereo.opus")
	if err != nil {
		t.Skip(err)
	}
	gd, _ := gopus.NewDecoder(gopus.DefaultDecoderConfig(sampleRate, 1))
	kd, _ := opus.NewDecoder(sampleRate, 1)
	g := make([]float32, 5760)
	k := make([]int16, 5760)
	var ge, ke error
	for _, p := range pk {
		if _, err := gd.Decode(p, g); err != nil {
			ge = err
		}
		if _, err := kd.Decode(p, k, 5760, false); err != nil {
			ke = err
		}
	}
	t.Logf("mono decoders on stereo packets: gopus err=%v, kazzmir err=%v", ge, ke)
	_ = fmt.Sprint()
}

// Robustness: random / truncated / bit-flipped packets must not panic.
func TestGarbagePackets(t *testing.T) {
	_, pk, err := readOggOpus("out/ref_mono.opus")
	if err != nil {
		t.Skip(err)
	}
	rng := rand.New(rand.NewSource(5))
	gen := func(i int) []byte {
		switch i % 3 {
		case 0: // pure random
			b := make([]byte, 1+rng.Intn(400))
			rng.Read(b)
			return b
		case 1: // bit flips in a real packet
			b := append([]byte(nil), pk[rng.Intn(len(pk))]...)
			for k := 0; k < 1+rng.Intn(8); k++ {
				j := rng.Intn(len(b))
				b[j] ^= 1 << rng.Intn(8)
			}
			return b
		default: // truncation
			b := pk[rng.Intn(len(pk))]
			return append([]byte(nil), b[:rng.Intn(len(b))+1]...)
		}
	}
	for _, lib := range []string{"gopus", "kazzmir"} {
		gd, _ := gopus.NewDecoder(gopus.DefaultDecoderConfig(sampleRate, 2))
		kd, _ := opus.NewDecoder(sampleRate, 2)
		g := make([]float32, 5760*2)
		k := make([]int16, 5760*2)
		errs, panics := 0, 0
		for i := 0; i < 20000; i++ {
			p := gen(i)
			func() {
				defer func() {
					if r := recover(); r != nil {
						panics++
						if panics == 1 {
							t.Logf("%s panic: %v", lib, r)
						}
					}
				}()
				var err error
				if lib == "gopus" {
					_, err = gd.Decode(p, g)
				} else {
					_, err = kd.Decode(p, k, 5760, false)
				}
				if err != nil {
					errs++
				}
			}()
		}
		kd.Close()
		t.Logf("%s: 20000 garbage packets: %d returned errors, %d panics", lib, errs, panics)
	}
}

// Heap retained per instance (48 kHz mono), averaged over 50 instances.
func TestInstanceMemory(t *testing.T) {
	measure := func(name string, mk func() any) {
		var keep []any
		var a, b runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&a)
		for i := 0; i < 50; i++ {
			keep = append(keep, mk())
		}
		runtime.GC()
		runtime.ReadMemStats(&b)
		t.Logf("%-16s %7.1f KiB heap per instance", name, float64(b.HeapAlloc-a.HeapAlloc)/50/1024)
		runtime.KeepAlive(keep)
	}
	pcm := signal(1)
	f32 := i16ToF32(pcm)
	measure("gopus encoder", func() any {
		e, _ := gopus.NewEncoder(gopus.EncoderConfig{SampleRate: sampleRate, Channels: 1, Application: gopus.ApplicationVoIP})
		e.SetBitrate(32000)
		buf := make([]byte, 1500)
		for i := 0; i < 5; i++ { // warm up lazily allocated state
			e.Encode(f32[i*frameSize:(i+1)*frameSize], buf)
		}
		return e
	})
	measure("gopus decoder", func() any {
		d, _ := gopus.NewDecoder(gopus.DefaultDecoderConfig(sampleRate, 1))
		return d
	})
	measure("kazzmir encoder", func() any {
		e, _ := opus.NewEncoder(sampleRate, 1, opus.ApplicationVoIP)
		buf := make([]byte, 1500)
		for i := 0; i < 5; i++ {
			e.Encode(pcm[i*frameSize:(i+1)*frameSize], frameSize, buf)
		}
		return e
	})
	measure("kazzmir decoder", func() any {
		d, _ := opus.NewDecoder(sampleRate, 1)
		return d
	})
}
