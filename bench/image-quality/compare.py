#!/usr/bin/env python3
"""Quality of image.face and image.saliency against OpenCV, on photos that
registry packages ship (nothing else is downloaded):

- scikit-image's `data` module: astronaut, camera, coffee, chelsea, rocket,
  and `lfw_subset` (100 tight 25x25 face crops and 100 non-face patches);
- the `face_recognition` 1.3.0 sdist: tests/test_images (Obama, Biden);
- the `insightface` 2.1 wheel: data/images (t1.jpg, a six-person group
  photo; Tom Hanks; four photos of surgical masks with no face).

Faces: drake's detector (SeetaFace frontal through rustface, run natively
with `cargo run --release -p drake-task-image-face --example faces`) and
OpenCV's Haar cascade `haarcascade_frontalface_default.xml` (scaleFactor
1.1, minNeighbors 5, minSize 20 — the usual settings) on the same pixels.
The ground truth below was labelled by hand (each box checked on the
photo). A detection matches a truth box when its centre lies inside the
box and its area is within 0.25–4x of it (the two detectors frame a face
differently, so IoU would penalise style, not misses); each truth box
matches once; `ignore` regions (partly visible faces at the frame edge)
count neither way.

Saliency: drake's spectral-residual map (`--example saliency`) against
OpenCV contrib's `StaticSaliencySpectralResidual`, and against a NumPy
re-implementation of drake's exact recipe (a check of the Rust FFT code).
Reported: Pearson correlation of the maps on drake's grid, distance between
the strongest points (fraction of the image diagonal), and how many of
drake's top 5 points have an OpenCV top-5 point within 10 % of the diagonal.

Usage (from anywhere; needs python3 with venv, pip and cargo):

    python3 bench/image-quality/compare.py [--work /tmp/drake-image-quality]

It creates a venv under the work directory, installs numpy, pillow,
scikit-image and opencv-contrib-python-headless (4.x: 5.x no longer ships
the Haar cascades) into it, and re-runs itself there. Not run in CI.
"""

import argparse
import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEPS = ["numpy", "pillow", "scikit-image", "opencv-contrib-python-headless<5"]

# Hand-labelled faces: file -> {"faces": [(x, y, w, h)], "ignore": [...]}.
# Boxes in pixels of the upright image.
TRUTH = {
    "astronaut.png": {"faces": [(176, 67, 96, 96)]},
    # Three-quarter profile, looking into the camera's eyepiece.
    "camera.png": {"faces": [(196, 118, 70, 70)]},
    "biden.jpg": {"faces": [(398, 202, 334, 334)]},
    "obama.jpg": {"faces": [(352, 104, 277, 277)]},
    # A woman cut by the right edge (about 40 % of her face visible).
    "obama2.jpg": {"faces": [(161, 287, 311, 311)], "ignore": [(560, 200, 66, 260)]},
    "32bit.png": {"faces": [(134, 258, 353, 353)], "ignore": [(560, 200, 66, 260)]},
    "obama3.jpg": {"faces": [(637, 273, 295, 294)]},
    # Half a face at the left edge.
    "obama_partial_face.jpg": {"faces": [(10, 123, 274, 274)]},
    "obama_partial_face2.jpg": {"faces": [(330, 109, 221, 264)]},
    "t1.jpg": {
        "faces": [
            (1122, 278, 107, 107),
            (735, 359, 115, 115),
            (462, 275, 126, 126),
            (903, 71, 108, 108),
            (69, 283, 104, 104),
            (269, 152, 102, 102),
        ]
    },
    "Tom_Hanks_54745.png": {"faces": [(6, 13, 93, 93)]},
    "mask_black.jpg": {"faces": []},
    "mask_blue.jpg": {"faces": []},
    "mask_green.jpg": {"faces": []},
    "mask_white.jpg": {"faces": []},
}

SALIENCY_PHOTOS = [
    "astronaut.png",
    "camera.png",
    "coffee.png",
    "chelsea.png",
    "rocket.png",
    "t1.jpg",
    "obama.jpg",
    "obama3.jpg",
    "biden.jpg",
    "mask_blue.jpg",
]


def ensure_venv(work: Path) -> None:
    """Re-run inside a venv with the dependencies."""
    venv = work / "venv"
    python = venv / "bin" / "python"
    if Path(sys.prefix).resolve() == venv.resolve():
        return
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *DEPS], check=True)
    os.execv(str(python), [str(python), __file__, *sys.argv[1:]])


def pip_download(work: Path, spec: str, extra: list) -> Path:
    out = work / "downloads"
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", *extra, spec, "-d", str(out)],
        check=True,
    )
    name = spec.split("==")[0].replace("-", "_").lower()
    return next(p for p in out.iterdir() if p.name.lower().startswith(name))


def gather_photos(work: Path) -> Path:
    import numpy as np
    import skimage.data as data
    from PIL import Image

    photos = work / "photos"
    photos.mkdir(parents=True, exist_ok=True)
    for name in ["astronaut", "camera", "coffee", "chelsea", "rocket"]:
        target = photos / f"{name}.png"
        if not target.exists():
            Image.fromarray(getattr(data, name)()).save(target)
    sdist = pip_download(work, "face_recognition==1.3.0", ["--no-binary", "face_recognition"])
    with tarfile.open(sdist) as tar:
        for member in tar.getmembers():
            if "/tests/test_images/" in member.name and member.isfile():
                (photos / Path(member.name).name).write_bytes(tar.extractfile(member).read())
    wheel = pip_download(work, "insightface==2.1", ["--only-binary", ":all:"])
    with zipfile.ZipFile(wheel) as z:
        for name in z.namelist():
            if name.startswith("insightface/data/images/"):
                (photos / Path(name).name).write_bytes(z.read(name))
    # LFW crops, 4x up and padded with grey, so both detectors see a whole
    # face with some margin.
    lfw = photos / "lfw"
    lfw.mkdir(exist_ok=True)
    for i, crop in enumerate(data.lfw_subset()):
        target = lfw / f"{'face' if i < 100 else 'other'}_{i:03}.png"
        if not target.exists():
            img = Image.fromarray((crop * 255).astype(np.uint8)).resize((100, 100), Image.BICUBIC)
            canvas = Image.new("L", (200, 200), 128)
            canvas.paste(img, (50, 50))
            canvas.save(target)
    return photos


def cargo_example(package: str, example: str, files: list) -> dict:
    env = dict(os.environ)
    env.setdefault("CARGO_TARGET_DIR", "/tmp/drake-image-quality-target")
    out = subprocess.run(
        ["cargo", "run", "-q", "--release", "-p", package, "--example", example, "--", *map(str, files)],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return {Path(d["file"]).name: d for d in map(json.loads, out.splitlines())}


def upright_grey(path: Path):
    import numpy as np
    from PIL import Image, ImageOps

    img = ImageOps.exif_transpose(Image.open(path)).convert("RGBA")
    white = Image.new("RGBA", img.size, (255, 255, 255, 255))
    return np.array(Image.alpha_composite(white, img).convert("L"))


def haar_faces(path: Path) -> list:
    import cv2

    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    found = cascade.detectMultiScale(upright_grey(path), scaleFactor=1.1, minNeighbors=5, minSize=(20, 20))
    return [tuple(int(v) for v in b) for b in found]


def match(found: list, truth: dict) -> tuple:
    """(true positives, false positives, false negatives)."""
    faces = list(truth.get("faces", []))
    ignore = truth.get("ignore", [])
    used = [False] * len(faces)
    tp = fp = 0

    def inside(cx, cy, box):
        x, y, w, h = box
        return x <= cx <= x + w and y <= cy <= y + h

    for x, y, w, h in found:
        cx, cy = x + w / 2, y + h / 2
        hit = next(
            (
                i
                for i, t in enumerate(faces)
                if not used[i] and inside(cx, cy, t) and 0.25 <= (w * h) / (t[2] * t[3]) <= 4
            ),
            None,
        )
        if hit is not None:
            used[hit] = True
            tp += 1
        elif not any(inside(cx, cy, b) for b in ignore):
            fp += 1
    return tp, fp, used.count(False)


def report(name: str, tp: int, fp: int, fn: int) -> None:
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    print(f"  {name:<8} TP {tp:3}  FP {fp:3}  FN {fn:3}  precision {precision:.3f}  recall {recall:.3f}")


def faces(photos: Path) -> None:
    files = [photos / f for f in TRUTH]
    drake = cargo_example("drake-task-image-face", "faces", files)
    print("Faces: hand-labelled photos "
          f"({len(files)} photos, {sum(len(t['faces']) for t in TRUTH.values())} faces)")
    totals = {"drake": [0, 0, 0], "haar": [0, 0, 0]}
    for f in files:
        ours = [(d["x"], d["y"], d["width"], d["height"]) for d in drake[f.name]["faces"]]
        theirs = haar_faces(f)
        for key, found in [("drake", ours), ("haar", theirs)]:
            for i, v in enumerate(match(found, TRUTH[f.name])):
                totals[key][i] += v
        print(f"    {f.name:<24} truth {len(TRUTH[f.name]['faces'])}  drake {len(ours)}  haar {len(theirs)}"
              f"  ({drake[f.name]['ms']} ms)")
    for key, (tp, fp, fn) in totals.items():
        report(key, tp, fp, fn)

    lfw = sorted((photos / "lfw").iterdir())
    drake = cargo_example("drake-task-image-face", "faces", lfw)
    print("Faces: scikit-image lfw_subset (100 tight face crops, 100 non-faces; 4x, padded)")
    for key in ["drake", "haar"]:
        hits = {"face": 0, "other": 0}
        for f in lfw:
            n = len(drake[f.name]["faces"]) if key == "drake" else len(haar_faces(f))
            hits[f.name.split("_")[0]] += n > 0
        tp, fp = hits["face"], hits["other"]
        print(f"  {key:<8} faces found in {tp}/100 face crops, in {fp}/100 non-face patches")


def peaks(m, limit=20, floor=0.05) -> list:
    """drake's rule: 3x3 local maxima (one per plateau) >= floor, strongest
    first."""
    h, w = m.shape
    out = []
    for y in range(h):
        for x in range(w):
            v = m[y, x]
            if v < floor:
                continue
            ok = True
            for ny in range(max(0, y - 1), min(h, y + 2)):
                for nx in range(max(0, x - 1), min(w, x + 2)):
                    if (ny, nx) == (y, x):
                        continue
                    n = m[ny, nx]
                    if n > v or ((ny, nx) < (y, x) and n == v):
                        ok = False
            if ok:
                out.append((v, x, y))
    out.sort(key=lambda p: (-p[0], p[2], p[1]))
    return [(x, y) for _, x, y in out[:limit]]


def numpy_spectral_residual(small):
    """drake's recipe in NumPy (see components/tasks/image-saliency/src/spectral.rs)."""
    import cv2
    import numpy as np

    f = np.fft.fft2(small.astype(np.float64) / 255.0)
    amplitude = np.abs(f)
    log = np.log(np.maximum(amplitude, amplitude.max() * 1e-3))
    padded = np.pad(log, 1, mode="wrap")
    mean = sum(padded[1 + dy : 1 + dy + log.shape[0], 1 + dx : 1 + dx + log.shape[1]]
               for dy in (-1, 0, 1) for dx in (-1, 0, 1)) / 9
    s = np.abs(np.fft.ifft2(np.exp(log - mean + 1j * np.angle(f)))) ** 2
    s = cv2.GaussianBlur(s, (17, 17), 2.5, borderType=cv2.BORDER_REFLECT_101)
    return (s - s.min()) / (s.max() - s.min())


def saliency(photos: Path) -> None:
    import cv2
    import numpy as np

    files = [photos / f for f in SALIENCY_PHOTOS]
    drake = cargo_example("drake-task-image-saliency", "saliency", files)
    sr = cv2.saliency.StaticSaliencySpectralResidual_create()
    print("Saliency: drake vs OpenCV StaticSaliencySpectralResidual (and vs NumPy reference)")
    print(f"    {'photo':<16} {'corr':>6} {'top1 dist':>9} {'top5 agree':>10}   {'numpy corr':>10}")
    rows = []
    for f in files:
        d = drake[f.name]
        m = d["map"]
        ours = np.array(m["values"], dtype=np.float64).reshape(m["height"], m["width"])
        grey = upright_grey(f)
        ok, theirs = sr.computeSaliency(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR))
        theirs = cv2.resize(theirs.astype(np.float64), (m["width"], m["height"]), interpolation=cv2.INTER_AREA)
        theirs = (theirs - theirs.min()) / max(theirs.max() - theirs.min(), 1e-12)
        corr = np.corrcoef(ours.ravel(), theirs.ravel())[0, 1]
        small = cv2.resize(grey, (m["width"], m["height"]), interpolation=cv2.INTER_AREA)
        ref_corr = np.corrcoef(ours.ravel(), numpy_spectral_residual(small).ravel())[0, 1]
        h, w = grey.shape
        diag = (w * w + h * h) ** 0.5
        sx, sy = w / m["width"], h / m["height"]
        ours_pts = [(p["x"], p["y"]) for p in d["points"]][:5]
        theirs_pts = [((x + 0.5) * sx, (y + 0.5) * sy) for x, y in peaks(theirs)][:5]

        def dist(a, b):
            return ((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2) ** 0.5 / diag

        top1 = dist(ours_pts[0], theirs_pts[0]) if ours_pts and theirs_pts else float("nan")
        agree = sum(any(dist(p, q) <= 0.1 for q in theirs_pts) for p in ours_pts)
        rows.append((corr, top1, agree / max(len(ours_pts), 1), ref_corr))
        print(f"    {f.name:<16} {corr:6.3f} {top1:9.3f} {agree:>4}/{len(ours_pts):<5}   {ref_corr:10.4f}")
    c, t, a, r = (float(np.mean([row[i] for row in rows])) for i in range(4))
    print(f"    {'mean':<16} {c:6.3f} {t:9.3f} {a:10.2f}   {r:10.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/drake-image-quality"))
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    ensure_venv(args.work)
    photos = gather_photos(args.work)
    faces(photos)
    saliency(photos)


if __name__ == "__main__":
    main()
