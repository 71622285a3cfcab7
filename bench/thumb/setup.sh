#!/usr/bin/env bash
# Prepare the image.thumb bench: sharp (from npm) and real photos (from
# Debian packages) under target/bench-photos. Idempotent.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
photos="$root/target/bench-photos"

[ -d "$here/node_modules/sharp" ] || (cd "$here" && npm install --no-audit --no-fund)

mkdir -p "$photos"
cd "$photos"
if [ ! -f Kleiber_by_Lukas_Baubkus.jpg ] || [ ! -f seeding_by_Clements_Engelhardt.jpg ]; then
  apt-get download lomiri-wallpapers-20.04 lomiri-wallpapers-16.04
  for deb in lomiri-wallpapers-*.deb; do dpkg-deb -x "$deb" x; done
  cp x/usr/share/backgrounds/Kleiber_by_Lukas_Baubkus.jpg \
     x/usr/share/backgrounds/seeding_by_Clements_Engelhardt.jpg \
     x/usr/share/backgrounds/Dragonfly_by_Bolly.jpg .
  rm -rf x lomiri-wallpapers-*.deb
fi
ls -l "$photos"/*.jpg
