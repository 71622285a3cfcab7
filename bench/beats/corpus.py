#!/usr/bin/env python3
"""Build the audio.beats evaluation corpus from MIDI songs that Debian
packages ship (run by setup.sh with the bench venv's python).

For each song in SONGS: the MIDI file is copied to OUT/midi/<name>.mid,
rendered with fluidsynth + FluidR3_GM to OUT/<name>.wav (44.1 kHz, 16-bit,
stereo, exactly the first SECONDS seconds), and its reference beats
(pretty_midi's get_beats() from the tempo map and time signatures, only
those < SECONDS) are written to OUT/<name>.beats.json as a JSON list of
seconds. OUT/manifest.json records packages, versions and per-song facts,
including an alignment check of the audio against the MIDI note onsets.

    corpus.py check OUT                    # exit 0 if OUT is complete and current
    corpus.py build --src ROOT --package NAME=VERSION ... OUT

ROOT is a directory into which the packages were unpacked with dpkg-deb -x.
"""

import argparse
import hashlib
import json
import os
import struct
import subprocess
import sys
import tempfile
import warnings
import wave
from pathlib import Path

import numpy as np

SR = 44100
SECONDS = 60
GAIN = 0.2  # fluidsynth -g (its default); output is float, normalised below
PEAK = 0.891  # each excerpt is scaled to this peak (-1 dBFS) before 16-bit
SF2 = "/usr/share/sounds/sf2/FluidR3_GM.sf2"

MSX = "usr/share/games/openttd/baseset/openmsx"
BLUPI = "usr/share/planetblupi/music"
FD1 = "usr/share/games/doom/freedoom1.wad"
FD2 = "usr/share/games/doom/freedoom2.wad"

# name -> (Debian package, file in the package, or (WAD file, lump name))
SONGS = {}
for _f in """5432gone_redfarn be_sharp_bw_redfarn boogi_marabi_redfarn busy_schedule
    careless_perc_redfarn chemistry_lab chuggachugga city_blues_redfarn coconut_run2
    flying_scotsman harp_harmony keep_on_rolling linns_basket midnight_snow_run
    mighty_giant_run modern_motion moo_redfarn mosey_along_redfarn no_work_song_redfarn
    relax_song run_for_your_life say_what_redfarn slow_neasy_redfarn the_fast_route
    train_filled_with_cash ttsong_iii_imuh3 ttsong_iv_imuh3 tttheme2 ultimate_run
    wood_whistles""".split():
    SONGS[_f] = ("openttd-openmsx", f"{MSX}/{_f}.mid")
for _i in range(4):
    SONGS[f"blupi_music00{_i}"] = ("planetblupi-music-midi", f"{BLUPI}/music00{_i}.mid")
for _wad, _lump in [
    (FD1, "D_E1M1"),  # 186 BPM metal
    (FD1, "D_E2M1"),  # 7/4, 150 BPM
    (FD1, "D_E3M7"),  # 170 BPM
    (FD2, "D_DDTBL3"),  # 80 BPM
    (FD2, "D_MESSAG"),  # 3/4, tempo drifting 135-140 BPM (53 tempo events in 60 s)
    (FD2, "D_ULTIMA"),  # 125 BPM, 5/4-7/4-3/4 changing meter
]:
    SONGS[f"{Path(_wad).stem}_{_lump[2:].lower()}"] = ("freedoom", (_wad, _lump))

# Looked at and left out (see README.md).
EXCLUDED = {
    "openttd-openmsx the_hobo_redfarn": "6/4: get_beats() counts dotted halves (42 BPM), not a usable beat level",
    "planetblupi-music-midi music004-009": "notes are not on the tempo map's grid (drums 20-60 ms off it)",
    "freedoom D_INTRO, D_INTROA, D_SHAWN, D_SHAWN2, D_DEAD, D_OPENIN, D_THE_DA, D_THEDA3, D_DM2INT, D_DM2TTL":
        "converted from MUS at 89 ticks/quarter: the tempo map is a tick clock, not the music's beat",
    "freedoom D_BUNNY": "notes not on the tempo grid",
    "freedoom (others)": "fine, but left out to keep the corpus at 40 songs",
}


def script_digest():
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]


def wad_lump(path, lump):
    data = Path(path).read_bytes()
    _, n, off = struct.unpack("<4sii", data[:12])
    for i in range(n):
        pos, size, name = struct.unpack("<ii8s", data[off + 16 * i: off + 16 * i + 16])
        if name.rstrip(b"\0").decode() == lump:
            return data[pos: pos + size]
    raise KeyError(f"{lump} not in {path}")


def render(mid, wav):
    """fluidsynth to raw float stereo on stdout; keep exactly SECONDS s,
    scale to PEAK and write 16-bit WAV (no clipping, full use of 16 bit)."""
    need = SR * SECONDS * 8
    cmd = ["fluidsynth", "-n", "-i", "-q", "-g", str(GAIN), "-r", str(SR),
           "-T", "raw", "-O", "float", "-E", "little", "-F", "-", SF2, str(mid)]
    with tempfile.TemporaryFile() as err:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err)
        buf = bytearray()
        while len(buf) < need:
            chunk = p.stdout.read(min(1 << 20, need - len(buf)))
            if not chunk:
                break
            buf += chunk
        p.kill()  # the song may go on far beyond SECONDS
        p.wait()
        if len(buf) == 0:
            err.seek(0)
            raise RuntimeError(f"fluidsynth produced nothing for {mid}: {err.read().decode()[:500]}")
    buf += bytes(need - len(buf))  # a song shorter than SECONDS: pad with silence
    f = np.frombuffer(bytes(buf), dtype="<f4").reshape(-1, 2).astype(np.float64)
    f *= PEAK / max(float(np.abs(f).max()), 1e-9)
    x = np.round(f * 32767.0).astype("<i2")
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes(x.tobytes())
    return x


def alignment(x, pm):
    """Lag (ms) of the audio against the MIDI note onsets: cross-correlation of
    a spectral-flux onset envelope (1.45 ms hop) with the MIDI onset impulse
    train, over the whole excerpt and over its first and last 20 s. Positive:
    audio later than MIDI. The flux's own bias (a few ms) is the same for all
    songs; the first-sound check in the README fixes the absolute offset."""
    import librosa

    hop = 64
    y = x.astype(np.float32).mean(axis=1) / 32768.0
    env = librosa.onset.onset_strength(y=y, sr=SR, hop_length=hop, n_fft=512, lag=1, max_size=1)
    fps = SR / hop
    train = np.zeros_like(env)
    for inst in pm.instruments:
        for n in inst.notes:
            k = int(round(n.start * fps))
            if k < len(train):
                train[k] += n.velocity / 127.0
    g = np.exp(-0.5 * (np.arange(-6, 7) / 2.0) ** 2)
    e = np.convolve(env, g, "same")
    t = np.convolve(train, g, "same")
    maxlag = int(0.15 * fps)

    def lag(a, b):
        a = a - a.mean()
        b = b - b.mean()
        lags = np.arange(-maxlag, maxlag + 1)
        c = np.array([np.dot(a[max(0, L):len(a) + min(0, L)], b[max(0, -L):len(b) - max(0, L)]) for L in lags])
        c /= (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12)
        i = int(np.argmax(c))
        return float(lags[i] / fps * 1000.0), float(c[i])

    w = int(20 * fps)
    whole, corr = lag(e, t)
    first, _ = lag(e[:w], t[:w])
    last, _ = lag(e[-w:], t[-w:])
    return {"lag_ms": round(whole, 1), "lag_ms_0_20s": round(first, 1),
            "lag_ms_40_60s": round(last, 1), "corr": round(corr, 3)}


def first_sound_ms(x, thr=64):
    a = np.abs(x.astype(np.int32)).max(axis=1)
    i = int(np.argmax(a >= thr))
    return round(i / SR * 1000.0, 2)


def song_facts(pm):
    tt, tempi = pm.get_tempo_changes()
    sel = tt < SECONDS
    onsets = [n.start for i in pm.instruments for n in i.notes]
    return {
        "tempo_events_in_excerpt": int(sel.sum()),
        "midi_tempo_bpm": [round(float(tempi[sel].min()), 2), round(float(tempi[sel].max()), 2)],
        "time_signatures": sorted({f"{ts.numerator}/{ts.denominator}"
                                   for ts in pm.time_signature_changes if ts.time < SECONDS}) or ["4/4 (none given)"],
        "has_drums": any(i.is_drum and i.notes for i in pm.instruments),
        "first_note_s": round(min(onsets), 3),
        "midi_length_s": round(float(pm.get_end_time()), 1),
    }


def check(out):
    man = out / "manifest.json"
    if not man.exists():
        return False
    m = json.loads(man.read_text())
    if m.get("script") != script_digest():
        return False
    return all((out / f"{n}.wav").exists() and (out / f"{n}.beats.json").exists() for n in SONGS)


def build(src, packages, out):
    import pretty_midi

    warnings.simplefilter("ignore")  # pretty_midi warns about type-0 files etc.
    (out / "midi").mkdir(parents=True, exist_ok=True)
    fs_version = subprocess.run(["fluidsynth", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    songs = []
    for name, (pkg, where) in SONGS.items():
        mid = out / "midi" / f"{name}.mid"
        if isinstance(where, tuple):
            mid.write_bytes(wad_lump(src / where[0], where[1]))
            source = f"{where[0]}:{where[1]}"
        else:
            mid.write_bytes((src / where).read_bytes())
            source = where
        pm = pretty_midi.PrettyMIDI(str(mid))
        x = render(mid, out / f"{name}.wav")
        end = min(SECONDS, pm.get_end_time())
        beats = [round(float(b), 6) for b in pm.get_beats() if b < end]
        (out / f"{name}.beats.json").write_text(json.dumps(beats) + "\n")
        ibi = np.diff(beats)
        facts = {
            "name": name, "package": pkg, "version": packages.get(pkg), "source": source,
            "ref_beats": len(beats), "ref_tempo_bpm": round(60.0 / float(np.median(ibi)), 2),
            **song_facts(pm),
            "first_sound_ms": first_sound_ms(x),
            "align": alignment(x, pm),
        }
        songs.append(facts)
        a = facts["align"]
        print(f"{name:24s} {facts['ref_tempo_bpm']:6.1f} BPM  beats={len(beats):3d}  first note {facts['first_note_s']:.3f}s "
              f"first sound {facts['first_sound_ms']:.1f}ms  lag {a['lag_ms']:+.1f}/{a['lag_ms_0_20s']:+.1f}/{a['lag_ms_40_60s']:+.1f}ms "
              f"corr {a['corr']:.2f} ", flush=True)
    manifest = {
        "script": script_digest(),
        "seconds": SECONDS, "sample_rate": SR, "format": "WAV s16 stereo",
        "renderer": f"{fs_version}, gain {GAIN}, float output scaled to peak {PEAK}, {SF2} ({os.path.getsize(SF2)} bytes)",
        "reference": "pretty_midi.PrettyMIDI(mid).get_beats(), beats < min(60 s, end of MIDI)",
        "packages": packages,
        "excluded": EXCLUDED,
        "songs": songs,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    lags = np.array([s["align"]["lag_ms"] for s in songs])
    print(f"{len(songs)} songs; alignment lag median {np.median(lags):+.1f} ms, range {lags.min():+.1f}..{lags.max():+.1f} ms")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check")
    c.add_argument("out", type=Path)
    b = sub.add_parser("build")
    b.add_argument("--src", type=Path, required=True)
    b.add_argument("--package", action="append", default=[], help="NAME=VERSION, for the manifest")
    b.add_argument("out", type=Path)
    args = ap.parse_args()
    if args.cmd == "check":
        sys.exit(0 if check(args.out) else 1)
    build(args.src, dict(p.split("=", 1) for p in args.package), args.out)


if __name__ == "__main__":
    main()
