#!/usr/bin/env bash
# Reproduce the whole quality evaluation (~1 min on 2 cores).
# Output files in out/ beside this script, report on stdout.
set -euo pipefail
export PATH=$PATH:/usr/local/go/bin
cd "$(dirname "$0")"
D=${OUT:-out}
mkdir -p $D
FF="ffmpeg -hide_banner -loglevel error -y"
CPLX=${CPLX:-9}   # libopus default complexity is 9 (ffmpeg's libopus wrapper default would be 10)

go build -o opuseval .
./opuseval gen $D

# libopus (ffmpeg) encode: ffenc <in.s16> <channels> <application> <bitrate> <out.opus>
# 20 ms frames, constrained VBR (= libopus API default, also gopus default).
ffenc() {
  $FF -f s16le -ar 48000 -ac $2 -i $1 -c:a libopus -b:a $4 -application $3 \
      -frame_duration 20 -vbr constrained -compression_level $CPLX $5
}

# ---- 1. decoder quality: libopus-made streams, decoded by libopus (ffmpeg) and by both Go decoders
ffenc $D/sig_mono.s16   1 voip  32k $D/ref_mono.opus        # main case (hybrid/CELT FB)
ffenc $D/sig_stereo.s16 2 voip  32k $D/ref_stereo.opus      # main case, stereo
ffenc $D/sig_mono.s16   1 voip  12k $D/ref_mono_voip12k.opus   # extra: pushes SILK
ffenc $D/sig_mono.s16   1 audio 64k $D/ref_mono_audio64k.opus  # extra: CELT
for n in mono stereo mono_voip12k mono_audio64k; do
  c=$([ $n = stereo ] && echo 2 || echo 1)
  $FF -c:a libopus -request_sample_fmt flt -i $D/ref_$n.opus -f f32le -ac $c -ar 48000 $D/ref_$n.f32
  $FF -c:a libopus -request_sample_fmt s16 -i $D/ref_$n.opus -f s16le -ac $c -ar 48000 $D/ref_$n.s16
done
echo "=== 1. decoder quality (same libopus packets; reference = libopus $(dpkg-query -W -f='${Version}' libopus0) via ffmpeg) ==="
./opuseval godec $D mono stereo mono_voip12k mono_audio64k
./opuseval plc $D mono mono_voip12k mono_audio64k

# ---- 2. encoder quality: Go encoders -> Ogg -> libopus decode; libopus's own encoder for comparison
echo; echo "=== 2. encoder quality (mono, 20 ms, CVBR, complexity $CPLX/default) ==="
names=()
for cfg in voip:32000 audio:32000 voip:12000 audio:64000; do
  app=${cfg%:*}; br=${cfg#*:}; k=$((br/1000))k
  ./opuseval goenc $D $app $br
  ffenc $D/sig_mono.s16 1 $app $br $D/libopus_enc_${app}_$k.opus
  ./opuseval toc $D libopus_enc_${app}_$k
  for e in libopus_enc_${app}_$k gopus_enc_${app}_$k kazz_enc_${app}_$k; do
    $FF -c:a libopus -i $D/$e.opus -f s16le -ac 1 -ar 48000 $D/$e.s16
    names+=($e)
  done
  names+=(-)
done
./opuseval encrep $D "${names[@]}"
