#!/usr/bin/env bash
# Codec benchmark: the encode cost of each rendition codec (H.264, HEVC, VP8, VP9, AV1) in
# reel's transcode session against one ffmpeg CLI process with the same encoder settings,
# on 10 s of 720p30 to one 640x360 rung. See crates/reel-media/benches/codecs_vs_cli.rs.
# Optimised build; takes a few minutes.
#
#   scripts/bench-codecs.sh                        # one run per codec
#   REEL_BENCH_RUNS=3 scripts/bench-codecs.sh      # median of three
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec cargo bench -p reel-media --bench codecs_vs_cli
