package main

import (
	"fmt"

	"github.com/thesyncim/gopus"
)

func main() {
	e, _ := gopus.NewEncoder(gopus.EncoderConfig{SampleRate: 48000, Channels: 1, Application: gopus.ApplicationVoIP})
	d, _ := gopus.NewDecoder(gopus.DefaultDecoderConfig(48000, 1))
	pkt := make([]byte, 4000)
	pcm := make([]float32, 5760)
	n, _ := e.Encode(pcm[:960], pkt)
	m, _ := d.Decode(pkt[:n], pcm)
	fmt.Println(n, m)
}
