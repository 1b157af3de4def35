#!/usr/bin/env bash
# Real(ish) speech test signal: espeak-ng (Debian package) -> 48 kHz mono s16le, 5 s.
set -euo pipefail
cd "$(dirname "$0")" && mkdir -p out && cd out
espeak-ng -v en-us -s 150 -w speech_raw.wav "The quick brown fox jumps over the lazy dog. Please call Stella and ask her to bring these things with her from the store: six spoons of fresh snow peas, five thick slabs of blue cheese."
ffmpeg -hide_banner -loglevel error -y -i speech_raw.wav -af "aresample=48000,volume=1.0" -t 5 -ac 1 -f s16le speech.s16
