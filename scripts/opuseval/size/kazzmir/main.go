package main

import (
	"fmt"

	"github.com/kazzmir/opus-go/opus"
)

func main() {
	e, _ := opus.NewEncoder(48000, 1, opus.ApplicationVoIP)
	d, _ := opus.NewDecoder(48000, 1)
	pkt := make([]byte, 4000)
	pcm := make([]int16, 5760)
	n, _ := e.Encode(pcm[:960], 960, pkt)
	m, _ := d.Decode(pkt[:n], pcm, 5760, false)
	fmt.Println(n, m)
}
