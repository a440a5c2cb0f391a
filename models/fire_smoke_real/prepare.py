"""Build the real-imagery training set from git mirrors of the sources in sources.py, and check it byte for byte.

python models/fire_smoke_real/prepare.py --mirrors /work/.mirror --out /work/data/fire_smoke_real
python models/fire_smoke_real/prepare.py --mirrors DIR --out DIR --write-manifest   # after changing the sources

A mirror is the bare git directory of a source's repository, found at MIRRORS/<owner>+<name>/repo (the layout the
project's fetch tool leaves) or MIRRORS/<owner>+<name>. Images are copied as they are; labels are rewritten to our
classes (x1 y1 x2 y2 as fractions of the image). Frames of one video or one CCTV camera look alike, so images are
grouped (a video's name prefix, or near-identical thumbnails) and whole groups go to one split: train, val (picking
thresholds) or test (the held-out figures). data_manifest.json, committed beside this file, lists every file with its
sha256 and split; a run that produces anything else fails.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import re
import subprocess
import sys
import tarfile
from pathlib import Path

_HERE = Path(__file__).resolve().parent
if str(_HERE.parent) not in sys.path:
    sys.path.insert(0, str(_HERE.parent))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from fire_smoke_real.sources import NEGATIVE_SOURCES, SOURCES, Source  # noqa: E402

MANIFEST = _HERE / "data_manifest.json"
INDEX = "index.json"
SPLITS = {"test": 0.2, "val": 0.1}  # shares of images; the rest is train
SIMILAR = 0.92  # thumbnail correlation above which two images are the same scene
SPLIT_SEED = "fire_smoke_real-2026-12"


class PrepareError(RuntimeError):
    pass


def mirror_of(mirrors: Path, source: Source) -> Path:
    base = mirrors / source.repo.replace("/", "+")
    for cand in (base / "repo", base):
        if (cand / "HEAD").exists() or (cand / ".git").exists():
            return cand
    raise PrepareError(f"{source.key}: no git mirror of {source.repo} under {mirrors} (looked for {base}/repo)")


def read_tree(mirror: Path, source: Source) -> dict[str, bytes]:
    """Every file under the source's paths at its commit: path -> bytes."""
    try:
        tar = subprocess.run(
            ["git", "-C", str(mirror), "archive", "--format=tar", source.commit, *source.paths],
            check=True,
            capture_output=True,
        ).stdout
    except subprocess.CalledProcessError as exc:
        raise PrepareError(f"{source.key}: git archive {source.commit}: {exc.stderr.decode().strip()}") from None
    out = {}
    with tarfile.open(fileobj=io.BytesIO(tar)) as tf:
        for m in tf.getmembers():
            if m.isfile():
                f = tf.extractfile(m)
                assert f is not None
                out[m.name] = f.read()
    return out


def yolo_rows(text: str, source: Source, where: str) -> list[list[float]]:
    """A YOLO label file to rows [class, x1, y1, x2, y2] (fractions); negative-marker boxes are dropped."""
    labels = list(_labels())
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if parts[0] not in source.classes or len(parts) < 5 or len(parts) % 2 == 0:
            raise PrepareError(
                f"{where}:{n}: expected 'class cx cy w h' or 'class x y x y ...' (a polygon) "
                f"with a class in {sorted(source.classes)}"
            )
        ours = source.classes[parts[0]]
        if ours is None:
            continue
        if len(parts) == 5:
            cx, cy, w, h = (float(v) for v in parts[1:])
            box = [max(cx - w / 2, 0.0), max(cy - h / 2, 0.0), min(cx + w / 2, 1.0), min(cy + h / 2, 1.0)]
        else:  # a segmentation polygon: its bounding box
            xy = np.asarray(parts[1:], np.float64).reshape(-1, 2).clip(0, 1)
            box = [*xy.min(axis=0), *xy.max(axis=0)]
        if box[2] - box[0] <= 0 or box[3] - box[1] <= 0:
            raise PrepareError(f"{where}:{n}: empty box")
        rows.append([float(labels.index(ours)), *(round(v, 6) for v in box)])
    return rows


def _labels() -> tuple[str, ...]:
    return ("fire", "smoke")  # network.LABELS, without importing TensorFlow for a data step


def _video_group(name: str) -> str | None:
    m = re.match(r"(.+/.+_mp4)-\d+_", name)
    return m.group(1) if m else None


def _thumb(data: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    t = cv2.resize(img, (24, 24), interpolation=cv2.INTER_AREA).astype(np.float32).ravel()
    t -= t.mean()
    return t / (np.linalg.norm(t) + 1e-6)


def group_images(names: list[str], thumbs: np.ndarray) -> list[str]:
    """A group id per image: its video's name, joined with every image whose thumbnail is nearly the same."""
    parent = list(range(len(names)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def join(a: int, b: int) -> None:
        parent[find(a)] = find(b)

    first_of: dict[str, int] = {}
    for i, n in enumerate(names):
        v = _video_group(n)
        if v is not None:
            join(i, first_of.setdefault(v, i))
    sim = thumbs @ thumbs.T
    for i, j in zip(*np.nonzero(np.triu(sim, 1) > SIMILAR), strict=True):
        join(int(i), int(j))
    roots = [find(i) for i in range(len(names))]
    # Name a group after its alphabetically first member, so the id does not depend on the order files were read.
    first = {}
    for i in sorted(range(len(names)), key=lambda i: names[i]):
        first.setdefault(roots[i], names[i])
    return [first[r] for r in roots]


def assign_splits(groups: list[str]) -> dict[str, str]:
    """Whole groups to test / val / train, in an order fixed by a hash of the group id."""
    sizes: dict[str, int] = {}
    for g in groups:
        sizes[g] = sizes.get(g, 0) + 1
    order = sorted(sizes, key=lambda g: hashlib.sha256(f"{SPLIT_SEED}:{g}".encode()).hexdigest())
    total, split_of, filled = len(groups), {}, dict.fromkeys(SPLITS, 0)
    for g in order:
        for split, share in SPLITS.items():
            # A group may overshoot a split's share by a little, never by a whole video.
            if filled[split] + sizes[g] <= share * total * 1.1:
                split_of[g], filled[split] = split, filled[split] + sizes[g]
                break
        else:
            split_of[g] = "train"
    return split_of


def _stem(name: str) -> str:
    """The exporter's source image of a file: its name before Roboflow's '.rf.<hash>' suffix."""
    return re.sub(r"\.rf\.[0-9a-f]+\.\w+$", "", name)


def detection_entries(source: Source, files: dict[str, bytes], out: Path) -> list[dict]:
    """One entry per source image (copies of one image are the same picture, rotated): unrotated copies first."""
    images = sorted(p for p in files if re.search(r"/images/[^/]+\.(jpe?g|png)$", p, re.I))
    # valid/ and test/ hold the originals; train/ holds the exporter's augmented copies.
    images.sort(key=lambda p: (0 if "/train/" not in p else 1, p))
    seen, entries = set(), []
    for path in images:
        name = Path(path).name
        if source.exclude and re.search(source.exclude, name):
            continue
        if _stem(name) in seen:
            continue
        seen.add(_stem(name))
        label = re.sub(r"/images/", "/labels/", re.sub(r"\.(jpe?g|png)$", ".txt", path, flags=re.I))
        if label not in files:
            raise PrepareError(f"{source.key}: {path} has no label file {label}")
        rows = yolo_rows(files[label].decode(), source, f"{source.key}:{label}")
        dest = out / "images" / source.key / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(files[path])
        entries.append(
            {
                "file": f"images/{source.key}/{name}",
                "sha256": hashlib.sha256(files[path]).hexdigest(),
                "source": source.key,
                "origin": path,
                "boxes": rows,
            }
        )
    return entries


def split_detection(entries: list[dict], out: Path) -> None:
    """Group near-identical scenes across every source (two sets may share pictures), then split whole groups."""
    thumbs = np.stack([_thumb((out / e["file"]).read_bytes()) for e in entries])
    groups = group_images([f"{e['source']}/{Path(e['origin']).name}" for e in entries], thumbs)
    split_of = assign_splits(groups)
    for e, g in zip(entries, groups, strict=True):
        e["group"], e["split"] = g, split_of[g]


def prepare_sequences(source: Source, files: dict[str, bytes], out: Path) -> list[dict]:
    entries = []
    for path in sorted(p for p in files if p.lower().endswith(".jpg")):
        m = re.match(r"(\d+)_([+-]\d+)\.jpg$", Path(path).name)
        if not m:
            raise PrepareError(f"{source.key}: {path} is not named <unix time>_<seconds from ignition>.jpg")
        seq = Path(path).parent.name
        dest = out / "sequences" / seq / Path(path).name
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(files[path])
        entries.append(
            {
                "file": f"sequences/{seq}/{Path(path).name}",
                "sha256": hashlib.sha256(files[path]).hexdigest(),
                "source": source.key,
                "origin": path,
                "sequence": seq,
                "time": int(m.group(1)),
                "from_ignition_s": int(m.group(2)),
                "split": "sequence",
            }
        )
    return entries


def prepare_negatives(source: Source, files: dict[str, bytes], out: Path) -> list[dict]:
    """Photographs without fire (evaluation only): every image under the source's paths, duplicates once."""
    entries, seen = [], set()
    for path in sorted(p for p in files if re.search(r"\.(jpe?g|png)$", p, re.I)):
        digest = hashlib.sha256(files[path]).hexdigest()
        if digest in seen:
            continue
        seen.add(digest)
        name = f"{len(entries):04d}{Path(path).suffix.lower()}"
        dest = out / "negatives" / source.key / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(files[path])
        entries.append(
            {
                "file": f"negatives/{source.key}/{name}",
                "sha256": digest,
                "source": source.key,
                "origin": path,
                "group": Path(path).parent.name,
                "split": "negative",
            }
        )
    return entries


def prepare(mirrors: Path, out: Path, sources: list[Source] | None = None) -> list[dict]:
    """Build the set from ``sources`` (default: every source in sources.py) into ``out``; returns the index."""
    out.mkdir(parents=True, exist_ok=True)
    detections, sequences = [], []  # sequences: evaluation-only files (tower frames, negatives)
    for source in sources or list(SOURCES.values()):
        key = source.key
        files = read_tree(mirror_of(mirrors, source), source)
        if key == "tower":
            part = prepare_sequences(source, files, out)
            sequences += part
        elif key in NEGATIVE_SOURCES:
            part = prepare_negatives(source, files, out)
            sequences += part
        else:
            part = detection_entries(source, files, out)
            detections += part
        print(f"{key}: {len(part)} files from {source.repo}@{source.commit[:12]} ({source.use})", flush=True)
    if detections:
        split_detection(detections, out)
    entries = detections + sequences
    (out / INDEX).write_text(json.dumps(entries, indent=0) + "\n")
    return entries


def manifest_of(entries: list[dict]) -> dict[str, dict]:
    return {e["file"]: {"sha256": e["sha256"], "split": e["split"], "source": e["source"]} for e in entries}


def check(entries: list[dict], manifest_path: Path = MANIFEST) -> list[str]:
    """Differences between what was built and the committed manifest ([] when identical)."""
    want = json.loads(manifest_path.read_text())["files"]
    got = manifest_of(entries)
    problems = [f"missing: {f}" for f in sorted(set(want) - set(got))]
    problems += [f"not in the manifest: {f}" for f in sorted(set(got) - set(want))]
    problems += [f"differs: {f} ({want[f]} vs {got[f]})" for f in sorted(set(want) & set(got)) if want[f] != got[f]]
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mirrors", type=Path, required=True, help="folder holding the sources' git mirrors")
    parser.add_argument("--out", type=Path, required=True, help="folder to build the set in")
    parser.add_argument("--sources", nargs="*", choices=sorted(SOURCES), help="only these (default: all)")
    parser.add_argument("--write-manifest", action="store_true", help="record this build as data_manifest.json")
    args = parser.parse_args(argv)
    try:
        entries = prepare(args.mirrors, args.out, [SOURCES[k] for k in args.sources] if args.sources else None)
    except PrepareError as exc:
        print(f"prepare: {exc}", file=sys.stderr)
        return 1
    counts: dict[str, int] = {}
    for e in entries:
        counts[e["split"]] = counts.get(e["split"], 0) + 1
    print(f"{len(entries)} files: {counts}")
    if args.write_manifest:
        doc = {"note": "written by prepare.py --write-manifest; sha256 of every file of the set", "files": {}}
        doc["files"] = manifest_of(entries)
        MANIFEST.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
        print(f"wrote {MANIFEST}")
        return 0
    if args.sources is None:
        problems = check(entries)
        if problems:
            print("prepare: the set differs from data_manifest.json:\n  " + "\n  ".join(problems[:20]), file=sys.stderr)
            return 1
        print("matches data_manifest.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
