#!/usr/bin/env python3
"""librosa's beat tracker (and optionally drake's audio.beats) against the
MIDI reference beats of the corpus that setup.sh builds.

    target/beats-venv/bin/python bench/beats/compare.py target/beats-corpus \\
        [--drake DIR] [--json OUT] [--runs 3]

For every CORPUS/<name>.wav with a <name>.beats.json:
  y, sr = librosa.load(path, sr=22050, mono=True)
  tempo, beats = librosa.beat.beat_track(y=y, sr=sr, units='time')
and mir_eval.beat.f_measure(trim_beats(ref), trim_beats(est)) (±70 ms).
Also reported: the median signed offset (ms) of the estimated beats that
fall within 70 ms of a reference beat (librosa's are late: see README).
librosa is warmed up (numba JIT) on the first file, untimed; then load and
beat_track are each timed per file with time.perf_counter, best of --runs,
with BLAS limited to --threads (default 1) through threadpoolctl.

--drake DIR reads DIR/<name>.json = {"beats": [...], "tempo": x, "seconds": s}
(s = drake's wall time on that file) and scores it the same way; speed
ratios are librosa beat_track time / s and (load + beat_track) / s. Two
optional keys add the ratios the bench reports (tests/benches/beats.rs):
"track_seconds" (drake's tracker on decoded samples, as beat_track gets
them: librosa beat_track / track_seconds, goal >= 20) and "task_seconds"
(the whole audio.beats task through drake's API: fetch, decode, track).
"""

import argparse
import json
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np


def best_of(runs, fn):
    best, out = float("inf"), None
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def fmeasure(ref, est):
    import mir_eval

    return float(mir_eval.beat.f_measure(mir_eval.beat.trim_beats(np.asarray(ref, float)),
                                         mir_eval.beat.trim_beats(np.asarray(est, float))))


def offset_ms(ref, est):
    """Median signed error (est - ref, ms) of the estimated beats (past 5 s,
    as trim_beats) that lie within 70 ms of a reference beat; None if none."""
    ref = np.asarray(ref, float)
    est = np.asarray(est, float)
    est = est[est >= 5.0]
    if len(ref) < 2 or len(est) == 0:
        return None
    i = np.clip(np.searchsorted(ref, est), 1, len(ref) - 1)
    a, b = est - ref[i - 1], est - ref[i]
    d = np.where(np.abs(a) < np.abs(b), a, b)
    d = d[np.abs(d) <= 0.07]
    return round(float(np.median(d)) * 1000.0, 1) if len(d) else None


def tempo_of(beats):
    d = np.diff(np.asarray(beats, float))
    return 60.0 / float(np.median(d)) if len(d) else float("nan")


def level(est_bpm, ref_bpm):
    """Which metrical level a tempo estimate sits at, relative to the reference."""
    if not (est_bpm > 0 and ref_bpm > 0):
        return "?"
    r = est_bpm / ref_bpm
    for name, k in [("1x", 1.0), ("2x", 2.0), ("1/2", 0.5), ("3x", 3.0), ("1/3", 1 / 3), ("3/2", 1.5), ("2/3", 2 / 3), ("4/3", 4 / 3), ("3/4", 0.75)]:
        if abs(r / k - 1.0) < 0.04:
            return name
    return f"{r:.2f}"


def summary_stats(values):
    v = [x for x in values if x is not None]
    if not v:
        return None
    return {"median": round(statistics.median(v), 4), "mean": round(statistics.fmean(v), 4), "n": len(v)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--drake", type=Path, help="directory of drake's <name>.json results")
    ap.add_argument("--json", type=Path, help="write the summary (and per-file rows) here")
    ap.add_argument("--runs", type=int, default=3, help="timed runs per step; the best counts (default 3)")
    ap.add_argument("--threads", type=int, default=1,
                    help="BLAS threads for librosa (default 1: steadier on the 2-core machine; 0 = library default)")
    args = ap.parse_args()

    warnings.simplefilter("ignore")
    import librosa
    from threadpoolctl import threadpool_info, threadpool_limits

    if args.threads > 0:
        threadpool_limits(limits=args.threads)
    blas_threads = sorted({p["num_threads"] for p in threadpool_info()})

    names = sorted(p.name[: -len(".beats.json")] for p in args.corpus.glob("*.beats.json")
                   if (args.corpus / (p.name[: -len(".beats.json")] + ".wav")).exists())
    if not names:
        sys.exit(f"no <name>.wav + <name>.beats.json in {args.corpus}")

    def load(name):
        return librosa.load(str(args.corpus / f"{name}.wav"), sr=22050, mono=True)

    def track(y, sr):
        return librosa.beat.beat_track(y=y, sr=sr, units="time")

    y, sr = load(names[0])  # warm-up: numba JIT, resampler, FFT plans
    track(y, sr)

    rows = []
    load0 = os.getloadavg()[0]
    for name in names:
        ref = json.loads((args.corpus / f"{name}.beats.json").read_text())
        t_load, (y, sr) = best_of(args.runs, lambda: load(name))
        t_track, (tempo, beats) = best_of(args.runs, lambda: track(y, sr))
        lib_tempo = float(np.atleast_1d(tempo)[0])
        ref_tempo = tempo_of(ref)
        row = {
            "name": name, "audio_s": round(len(y) / sr, 3), "ref_tempo": round(ref_tempo, 2),
            "librosa_tempo": round(lib_tempo, 2), "librosa_level": level(lib_tempo, ref_tempo),
            "librosa_f": round(fmeasure(ref, beats), 4), "librosa_offset_ms": offset_ms(ref, beats),
            "librosa_load_s": round(t_load, 4), "librosa_beat_track_s": round(t_track, 4),
            "drake_tempo": None, "drake_f": None, "drake_offset_ms": None, "drake_s": None,
        }
        if args.drake:
            f = args.drake / f"{name}.json"
            if f.exists():
                d = json.loads(f.read_text())
                row["drake_tempo"] = round(float(d.get("tempo", float("nan"))), 2)
                row["drake_f"] = round(fmeasure(ref, d["beats"]), 4)
                row["drake_offset_ms"] = offset_ms(ref, d["beats"])
                row["drake_s"] = float(d["seconds"])
                row["ratio_beat_track"] = round(t_track / row["drake_s"], 2)
                row["ratio_load_beat_track"] = round((t_load + t_track) / row["drake_s"], 2)
                row["drake_track_s"] = d.get("track_seconds")
                row["drake_task_s"] = d.get("task_seconds")
            else:
                print(f"warning: no drake result {f}", file=sys.stderr)
        rows.append(row)
        print(f"  {name}: librosa F={row['librosa_f']:.3f} load {t_load * 1000:.0f} ms beat_track {t_track * 1000:.0f} ms",
              file=sys.stderr, flush=True)
    load1 = os.getloadavg()[0]

    def fmt(x, spec):
        return format(x, spec) if x is not None else "-".rjust(len(format(0.0, spec)))

    print(f"\n{'name':24s} {'ref BPM':>7s} {'lib BPM':>7s} {'level':>5s} {'lib F':>6s} {'lib off':>7s} {'drk BPM':>7s} {'drake F':>7s} {'drk off':>7s}"
          f" {'load ms':>7s} {'bt ms':>6s} {'drake ms':>8s}")
    for r in rows:
        print(f"{r['name']:24s} {r['ref_tempo']:7.1f} {r['librosa_tempo']:7.1f} {r['librosa_level']:>5s} {r['librosa_f']:6.3f}"
              f" {fmt(r['librosa_offset_ms'], '+7.0f')} {fmt(r['drake_tempo'], '7.1f')} {fmt(r['drake_f'], '7.3f')}"
              f" {fmt(r['drake_offset_ms'], '+7.0f')}"
              f" {r['librosa_load_s'] * 1000:7.0f} {r['librosa_beat_track_s'] * 1000:6.0f}"
              f" {fmt(None if r['drake_s'] is None else r['drake_s'] * 1000, '8.0f')}")

    audio_total = sum(r["audio_s"] for r in rows)
    t_load = sum(r["librosa_load_s"] for r in rows)
    t_track = sum(r["librosa_beat_track_s"] for r in rows)
    summary = {
        "files": len(rows), "audio_seconds": round(audio_total, 1), "runs": args.runs, "blas_threads": blas_threads,
        "loadavg_1min_before_after": [round(load0, 2), round(load1, 2)],
        "librosa": {
            "version": librosa.__version__,
            "f_measure": summary_stats([r["librosa_f"] for r in rows]),
            "offset_ms": summary_stats([r["librosa_offset_ms"] for r in rows]),
            "tempo_levels": {k: sum(1 for r in rows if r["librosa_level"] == k)
                             for k in sorted({r["librosa_level"] for r in rows})},
            "load_s_total": round(t_load, 3), "beat_track_s_total": round(t_track, 3),
            "load_s_median": round(statistics.median(r["librosa_load_s"] for r in rows), 4),
            "beat_track_s_median": round(statistics.median(r["librosa_beat_track_s"] for r in rows), 4),
        },
    }
    done = [r for r in rows if r["drake_f"] is not None]
    if args.drake:
        t_drake = sum(r["drake_s"] for r in done)
        summary["drake"] = {
            "files": len(done),
            "f_measure": summary_stats([r["drake_f"] for r in done]),
            "offset_ms": summary_stats([r["drake_offset_ms"] for r in done]),
            "librosa_f_measure_same_files": summary_stats([r["librosa_f"] for r in done]),
            "seconds_total": round(t_drake, 3),
            "seconds_median": round(statistics.median(r["drake_s"] for r in done), 4) if done else None,
            "ratio_beat_track_total": round(sum(r["librosa_beat_track_s"] for r in done) / t_drake, 2) if t_drake else None,
            "ratio_load_beat_track_total": round(sum(r["librosa_load_s"] + r["librosa_beat_track_s"] for r in done) / t_drake, 2) if t_drake else None,
            "ratio_beat_track_median": round(statistics.median(r["ratio_beat_track"] for r in done), 2) if done else None,
            "ratio_load_beat_track_median": round(statistics.median(r["ratio_load_beat_track"] for r in done), 2) if done else None,
        }
        tracked = [r for r in done if r.get("drake_track_s")]
        if tracked:
            t = sum(r["drake_track_s"] for r in tracked)
            summary["drake"]["track_s_total"] = round(t, 4)
            summary["drake"]["ratio_beat_track_to_tracker_total"] = round(
                sum(r["librosa_beat_track_s"] for r in tracked) / t, 2)
        tasked = [r for r in done if r.get("drake_task_s")]
        if tasked:
            t = sum(r["drake_task_s"] for r in tasked)
            summary["drake"]["task_s_total"] = round(t, 3)
            summary["drake"]["ratio_load_beat_track_to_task_total"] = round(
                sum(r["librosa_load_s"] + r["librosa_beat_track_s"] for r in tasked) / t, 2)

    L = summary["librosa"]
    print(f"\n{len(rows)} files, {audio_total:.0f} s of audio; BLAS threads {blas_threads}; "
          f"load average {load0:.2f} -> {load1:.2f}")
    print(f"librosa {L['version']}: F-measure median {L['f_measure']['median']:.3f}, mean {L['f_measure']['mean']:.3f}; "
          f"tempo level vs reference {L['tempo_levels']}")
    if L["offset_ms"]:
        print(f"librosa beats near a reference beat are late by {L['offset_ms']['median']:+.0f} ms (median over files)")
    print(f"librosa time (best of {args.runs}): load {t_load:.2f} s total ({L['load_s_median'] * 1000:.0f} ms median/file), "
          f"beat_track {t_track:.2f} s total ({L['beat_track_s_median'] * 1000:.0f} ms median/file)")
    if args.drake:
        D = summary["drake"]
        if D["f_measure"]:
            print(f"drake on {D['files']} files: F-measure median {D['f_measure']['median']:.3f}, mean {D['f_measure']['mean']:.3f} "
                  f"(librosa on the same files: {D['librosa_f_measure_same_files']['median']:.3f} / {D['librosa_f_measure_same_files']['mean']:.3f})"
                  + (f"; offset {D['offset_ms']['median']:+.0f} ms" if D["offset_ms"] else ""))
            print(f"drake time {D['seconds_total']:.2f} s total ({D['seconds_median'] * 1000:.0f} ms median/file); "
                  f"speed-up beat_track/drake {D['ratio_beat_track_total']}x total, {D['ratio_beat_track_median']}x median; "
                  f"(load+beat_track)/drake {D['ratio_load_beat_track_total']}x total, {D['ratio_load_beat_track_median']}x median")
            if "track_s_total" in D:
                print(f"drake tracker on decoded samples: {D['track_s_total']:.3f} s total; "
                      f"librosa beat_track / drake tracker = {D['ratio_beat_track_to_tracker_total']}x (goal >= 20x)")
            if "task_s_total" in D:
                print(f"whole audio.beats tasks through drake's API: {D['task_s_total']:.2f} s total; "
                      f"librosa (load + beat_track) / drake task = {D['ratio_load_beat_track_to_task_total']}x")
        else:
            print("drake: no results found")
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "files": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
