"""Cut the small real sample the tests use (tests/data/real_sample) out of a prepared set.

python models/fire_smoke_real/sample.py --data DATA --out tests/data/real_sample

Only sources licensed for redistribution (``use="train"``: CC BY 4.0) are sampled; images are shrunk to at most 320
pixels (the model's input) so the sample stays small; the index keeps prepare.py's format and each image's origin,
so every picture can be traced to its source and credited (ATTRIBUTION.md is written beside it).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
if str(_HERE.parent) not in sys.path:
    sys.path.insert(0, str(_HERE.parent))

import cv2  # noqa: E402

from fire_smoke_real.sources import SOURCES  # noqa: E402

# How many images of each kind each split of the sample gets: fire, smoke, none.
PLAN = {"train": (6, 6, 2), "val": (3, 3, 1), "test": (3, 3, 1)}
SIDE = 320


def _kind(e: dict) -> int:
    classes = {int(b[0]) for b in e["boxes"]}
    return 0 if 0 in classes else 1 if 1 in classes else 2


def cut(data: Path, out: Path) -> list[dict]:
    index = json.loads((data / "index.json").read_text())
    picked = []
    for split, counts in PLAN.items():
        pool = [e for e in index if e["split"] == split and SOURCES[e["source"]].use == "train"]
        # A fixed, spread-out choice: by hash of the file name, one per group so the sample is varied.
        pool.sort(key=lambda e: hashlib.sha256(e["file"].encode()).hexdigest())
        groups: set[str] = set()
        for kind, n in enumerate(counts):
            got = 0
            for e in pool:
                if got == n:
                    break
                if _kind(e) == kind and e["group"] not in groups:
                    groups.add(e["group"])
                    picked.append(e)
                    got += 1
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    for e in picked:
        img = cv2.imread(str(data / e["file"]), cv2.IMREAD_COLOR)
        s = SIDE / max(img.shape[:2])
        if s < 1:
            img = cv2.resize(img, (round(img.shape[1] * s), round(img.shape[0] * s)), interpolation=cv2.INTER_AREA)
        name = f"images/{e['source']}/{Path(e['file']).stem[:40]}.jpg"
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 85])
        assert ok
        (out / name).write_bytes(buf.tobytes())
        entries.append({**e, "file": name, "sha256": hashlib.sha256(buf.tobytes()).hexdigest()})
    (out / "index.json").write_text(json.dumps(entries, indent=0) + "\n")
    lines = [
        "# Real sample for the tests",
        "",
        f"{len(entries)} images shrunk to at most {SIDE} px by models/fire_smoke_real/sample.py from these sources "
        "(index.json gives each image's origin path):",
        "",
    ]
    for key in sorted({e["source"] for e in entries}):
        src = SOURCES[key]
        lines.append(f"- {src.attribution}. Licence: {src.licence}. Repository {src.repo} at {src.commit}.")
    (out / "ATTRIBUTION.md").write_text("\n".join(lines) + "\n")
    return entries


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="the folder prepare.py built")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    entries = cut(args.data, args.out)
    print(f"{len(entries)} images in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
