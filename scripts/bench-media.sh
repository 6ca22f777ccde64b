#!/usr/bin/env bash
# Media benchmark: reel's transcode session vs one ffmpeg CLI process per segment, on a
# 10-s 1080p30 input to four rungs with identical x264 settings (the session with its encoders
# kept open by sentinel frames, and reopened per segment), plus the encode-only bound.
# See crates/reel-media/benches/session_vs_cli.rs. Optimised build; takes a few minutes.
#
#   scripts/bench-media.sh                         # x264 1 thread per encoder, veryfast
#   REEL_BENCH_THREADS=0 scripts/bench-media.sh    # let x264 pick its threads
#   REEL_BENCH_RUNS=3 scripts/bench-media.sh       # median of three
#   REEL_BENCH_BOUND=0 scripts/bench-media.sh      # skip the encode-only bound
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec cargo bench -p reel-media --bench session_vs_cli
