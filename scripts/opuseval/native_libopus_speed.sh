#!/usr/bin/env bash
# Rough native libopus 1.3.1 (C, via ffmpeg) cost reference: 60 s of the speech signal (3000 frames),
# mono VoIP 32 kbit/s complexity 9 encode, then libopus decode. Reports user CPU per 20 ms frame.
set -euo pipefail
cd "$(dirname "$0")/out_speech"
for i in $(seq 12); do cat sig_mono.s16; done > speech60.s16
FF="ffmpeg -hide_banner -nostats -y -benchmark"
for c in 9 5 0; do
$FF -f s16le -ar 48000 -ac 1 -i speech60.s16 -c:a libopus -b:a 32k -application voip -frame_duration 20 -vbr constrained \
    -compression_level $c speech60_c$c.opus 2>&1 | grep -o 'utime=[0-9.]*s' | awk -v c=$c '{sub("utime=","");sub("s","");printf "libopus encode c%s: %.0f us/frame (user CPU, incl. ffmpeg overhead)\n", c, $1/3000*1e6}'
done
$FF -c:a libopus -i speech60_c9.opus -f s16le /dev/null 2>&1 | grep -o 'utime=[0-9.]*s' | awk '{sub("utime=","");sub("s","");printf "libopus decode: %.0f us/frame (user CPU, incl. ffmpeg overhead)\n", $1/3000*1e6}'
