#!/usr/bin/env bash
# Publish a synthetic live stream as HLS files for e2e/origin.py to serve.
#
#   e2e/publish.sh DIR [--ll] [--seconds N]
#
# ffmpeg encodes a moving test pattern (testsrc2, 640x360, 30 fps, with a clock) and a 440 Hz
# tone, in real time: H.264 main profile without B-frames, one keyframe per second; AAC-LC
# 48 kHz. The files go to DIR/live/stream/, named with a random prefix that is new for every
# run (a restarted publisher never reuses a file name, as with MediaMTX's muxers):
#   classic   MPEG-TS, 1 s segments, 6 in the playlist: index.m3u8 + <prefix>_seg<N>.ts
#   --ll      fMP4 fragments of 200 ms (the LL-HLS parts; every 5th starts at a keyframe):
#             ffmpeg.m3u8 + <prefix>_init.mp4 + <prefix>_part<K>.m4s; origin.py --ll turns
#             them into a low-latency playlist
# Runs in the foreground until --seconds are over (default: until stopped). On SIGTERM/SIGINT
# or exit it stops ffmpeg and deletes its playlist and files at once, so the origin answers
# 404 ("no stream") right away.
#
# Environment: FFMPEG_LOGLEVEL (warning), VBITRATE (800k), PRESET (veryfast).
set -euo pipefail

usage() { echo "usage: $0 DIR [--ll] [--seconds N]" >&2; exit 2; }
[ $# -ge 1 ] || usage
DIR="$1"; shift
LL=0
SECONDS_ARG=()
while [ $# -gt 0 ]; do
  case "$1" in
    --ll) LL=1 ;;
    --seconds) [ $# -ge 2 ] || usage; SECONDS_ARG=(-t "$2"); shift ;;
    *) usage ;;
  esac
  shift
done
command -v ffmpeg >/dev/null || { echo "publish: ffmpeg not installed (run scripts/install-deps.sh)" >&2; exit 1; }

OUT="$DIR/live/stream"
mkdir -p "$OUT"
PREFIX="$(od -An -tx1 -N6 /dev/urandom | tr -d ' \n')"
VBITRATE="${VBITRATE:-800k}"

ENC=(-re -f lavfi -i "testsrc2=size=640x360:rate=30"
  -re -f lavfi -i "sine=frequency=440:sample_rate=48000"
  "${SECONDS_ARG[@]}"
  -map 0:v -map 1:a
  -c:v libx264 -preset "${PRESET:-veryfast}" -tune zerolatency -profile:v main -pix_fmt yuv420p
  -g 30 -keyint_min 30 -sc_threshold 0 -bf 0 -force_key_frames "expr:gte(t,n_forced*1)"
  -b:v "$VBITRATE" -maxrate "$VBITRATE" -bufsize "$VBITRATE"
  -c:a aac -b:a 96k -ar 48000 -ac 2)

if [ "$LL" = 1 ]; then
  PLAYLIST="$OUT/ffmpeg.m3u8"
  # split_by_time cuts every 200 ms, also between keyframes: fMP4 fragments that start with a
  # non-keyframe are exactly LL-HLS parts. 40 entries = 8 s kept on disk.
  HLS=(-f hls -hls_time 0.2 -hls_list_size 40
    -hls_flags delete_segments+omit_endlist+split_by_time -hls_segment_type fmp4
    -hls_fmp4_init_filename "${PREFIX}_init.mp4"
    -hls_segment_filename "$OUT/${PREFIX}_part%d.m4s" "$PLAYLIST")
else
  PLAYLIST="$OUT/index.m3u8"
  HLS=(-f hls -hls_time 1 -hls_list_size 6 -hls_flags delete_segments+omit_endlist
    -hls_segment_filename "$OUT/${PREFIX}_seg%d.ts" "$PLAYLIST")
fi

FF_PID=""
cleanup() {
  trap - EXIT INT TERM
  if [ -n "$FF_PID" ] && kill -0 "$FF_PID" 2>/dev/null; then
    kill -TERM "$FF_PID" 2>/dev/null || true
    wait "$FF_PID" 2>/dev/null || true
  fi
  rm -f "$PLAYLIST" "$PLAYLIST.tmp" "$OUT/${PREFIX}_"*
}
trap cleanup EXIT
trap 'exit 0' INT TERM

echo "publish: prefix $PREFIX, $([ "$LL" = 1 ] && echo 'fMP4 200 ms parts' || echo 'MPEG-TS 1 s segments') into $OUT" >&2
ffmpeg -hide_banner -nostdin -loglevel "${FFMPEG_LOGLEVEL:-warning}" "${ENC[@]}" "${HLS[@]}" </dev/null &
FF_PID=$!
rc=0
wait "$FF_PID" || rc=$?
FF_PID=""
exit "$rc"
