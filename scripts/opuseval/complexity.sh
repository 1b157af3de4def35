#!/usr/bin/env bash
# gopus vs libopus encoder quality across complexity (mono VoIP 32 kbit/s). Run after run.sh.
set -euo pipefail
export PATH=$PATH:/usr/local/go/bin
cd "$(dirname "$0")"; D=${OUT:-out}; FF="ffmpeg -hide_banner -loglevel error -y"
go build -o opuseval .
names=()
for c in 0 5 9 10; do
  ./opuseval goenc $D voip 32000 $c >/dev/null
  $FF -f s16le -ar 48000 -ac 1 -i $D/sig_mono.s16 -c:a libopus -b:a 32k -application voip -frame_duration 20 \
      -vbr constrained -compression_level $c $D/libopus_enc_voip_32k_c$c.opus
  for e in libopus_enc_voip_32k_c$c gopus_enc_voip_32k_c$c; do
    $FF -c:a libopus -i $D/$e.opus -f s16le -ac 1 -ar 48000 $D/$e.s16; names+=($e)
  done
  ./opuseval toc $D libopus_enc_voip_32k_c$c; ./opuseval toc $D gopus_enc_voip_32k_c$c
done
./opuseval encrep $D "${names[@]}"
