#!/usr/bin/env bash
# payloads.sh DIR - write the three benchmark payloads into DIR:
#   index.m3u8  1 KB  an LL-HLS media playlist (text)
#   part.mp4   40 KB  an LL-HLS part (random bytes)
#   seg.mp4   250 KB  a segment (random bytes)
set -euo pipefail
dir=${1:?usage: payloads.sh DIR}
mkdir -p "$dir"
{
  printf '#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:1\n'
  printf '#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.50000\n'
  printf '#EXT-X-PART-INF:PART-TARGET=0.20000\n#EXT-X-MEDIA-SEQUENCE:120\n'
  printf '#EXT-X-MAP:URI="5f3e9a1c0b7d_video1_init.mp4"\n'
  for s in 120 121 122 123 124; do printf '#EXTINF:1.00000,\n5f3e9a1c0b7d_video1_seg%d.mp4\n' "$s"; done
  for p in 625 626 627; do printf '#EXT-X-PART:DURATION=0.20000,URI="5f3e9a1c0b7d_video1_part%d.mp4"\n' "$p"; done
  printf '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="5f3e9a1c0b7d_video1_part628.mp4"\n'
} > "$dir/index.m3u8.tmp"
n=$(wc -c < "$dir/index.m3u8.tmp")
((n <= 1020)) || { echo "payloads.sh: playlist text is already $n bytes" >&2; exit 1; }
# pad to exactly 1024 bytes with a comment line
{ cat "$dir/index.m3u8.tmp"; printf '#%s\n' "$(head -c $((1024 - n - 2)) /dev/zero | tr '\0' 'x')"; } > "$dir/index.m3u8"
rm -f "$dir/index.m3u8.tmp"
head -c 40960 /dev/urandom > "$dir/part.mp4"
head -c 256000 /dev/urandom > "$dir/seg.mp4"
