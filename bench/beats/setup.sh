#!/usr/bin/env bash
# Prepare the audio.beats bench: fluidsynth + FluidR3_GM (apt), a venv with
# librosa/mir_eval/pretty_midi at target/beats-venv, and the corpus (MIDI
# songs from Debian packages rendered to 60 s WAVs + reference beats) at
# target/beats-corpus. Idempotent; a no-op (seconds) when already done.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="$root/target/beats-venv"
corpus="$root/target/beats-corpus"
sf2=/usr/share/sounds/sf2/FluidR3_GM.sf2
packages=(openttd-openmsx planetblupi-music-midi freedoom)

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

# 1. Debian packages.
if ! command -v fluidsynth >/dev/null || [ ! -f "$sf2" ]; then
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y -qq fluidsynth fluid-soundfont-gm \
    || { $sudo apt-get update -qq && $sudo apt-get install -y -qq fluidsynth fluid-soundfont-gm; }
fi

# 2. The venv (rebuilt when requirements.txt changes).
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check --only-binary :all: -r "$here/requirements.txt"
  echo "$want" > "$stamp"
fi
py="$venv/bin/python"

# 3. The corpus (rebuilt when corpus.py changes).
if "$py" "$here/corpus.py" check "$corpus"; then
  echo "beats corpus up to date: $corpus ($(ls "$corpus"/*.wav | wc -l) songs)"
  exit 0
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(
  cd "$tmp"
  apt-get download "${packages[@]}" 2>/dev/null \
    || { $sudo apt-get update -qq && apt-get download "${packages[@]}"; }
)
args=()
for p in "${packages[@]}"; do
  deb="$(ls "$tmp/${p}"_*.deb)"
  dpkg-deb -x "$deb" "$tmp/root"
  args+=(--package "$p=$(dpkg-deb -f "$deb" Version)")
done
rm -rf "$corpus"
mkdir -p "$corpus"
"$py" "$here/corpus.py" build --src "$tmp/root" "${args[@]}" "$corpus"
