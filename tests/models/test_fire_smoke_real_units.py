"""The real-imagery model's parts alone: the legacy PyTorch reader, the ported backbone, data preparation, metrics."""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from fire_smoke_real import evaluate, prepare, torch_legacy
from fire_smoke_real.sources import Source

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def imagenet() -> dict[str, np.ndarray]:
    from fire_smoke_real import backbone

    return torch_legacy.load_state_dict(backbone.imagenet_file())


def test_legacy_reader_reads_every_tensor_of_the_wheel(imagenet: dict[str, np.ndarray]) -> None:
    assert len(imagenet) == 296
    assert sum(v.size for v in imagenet.values()) == 4_694_073
    assert imagenet["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert imagenet["_blocks.15._project_conv.weight"].shape == (320, 1152, 1, 1)
    assert imagenet["_fc.weight"].shape == (1000, 1280) and imagenet["_fc.weight"].dtype == np.float32
    assert (imagenet["_bn1.running_var"] > 0).all()


def test_legacy_reader_refuses_a_zip_format_file(tmp_path: Path) -> None:
    path = tmp_path / "new.pth"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", b"")
    with pytest.raises(ValueError, match=r"zip-format .* needs torch itself"):
        torch_legacy.load_state_dict(path)
    path.write_bytes(b"\x80\x02K\x01.")  # a pickle of the number 1
    with pytest.raises(ValueError, match=r"not a legacy torch\.save file"):
        torch_legacy.load_state_dict(path)


def test_ported_imagenet_backbone_still_sees_a_cat(imagenet: dict[str, np.ndarray]) -> None:
    from fire_smoke_real import backbone

    model = backbone.build(224, classifier=True)
    assert backbone.load_imagenet(model, imagenet) == 99  # every conv, BN and the classifier
    img = cv2.imread(str(DATA / "imagenet" / "chelsea.jpg"))[:, :, ::-1].astype(np.float32) / 255.0
    top5 = np.argsort(-model(img[None]).numpy()[0])[:5]
    assert {281, 282, 285} & set(top5.tolist())  # tabby, tiger cat, Egyptian cat


def _jpeg(seed: int, base: np.ndarray | None = None) -> bytes:
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8) if base is None else base
    ok, buf = cv2.imencode(".jpg", img)
    assert ok
    return buf.tobytes()


@pytest.fixture
def mirror(tmp_path: Path) -> Path:
    """A git repository laid out like a Roboflow YOLO export, committed; the mirror folder holding it."""
    root = tmp_path / "mirrors" / "someone+fires" / "repo"
    ds = root / "set"
    scene = np.random.default_rng(7).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    files = {
        # One source image exported three times (two rotated training copies, one original in valid/).
        "train/images/a_jpg.rf.111.jpg": _jpeg(1),
        "train/images/a_jpg.rf.222.jpg": _jpeg(2),
        "valid/images/a_jpg.rf.333.jpg": _jpeg(3),
        # Two frames of one scene: near-identical, must land in one split.
        "train/images/cam_jpg.rf.444.jpg": _jpeg(0, scene),
        "train/images/cam2_jpg.rf.555.jpg": _jpeg(0, np.clip(scene.astype(int) + 3, 0, 255).astype(np.uint8)),
        "train/images/skip_jpg.rf.666.jpg": _jpeg(6),
    }
    labels = {
        "train/labels/a_jpg.rf.111.txt": "0 0.5 0.5 0.2 0.2\n",
        "train/labels/a_jpg.rf.222.txt": "0 0.5 0.5 0.2 0.2\n",
        "valid/labels/a_jpg.rf.333.txt": "0 0.5 0.5 0.2 0.2\n1 0.1 0.2 0.3 0.2 0.2 0.6\n",  # a polygon
        "train/labels/cam_jpg.rf.444.txt": "2 0.5 0.5 1 1\n",  # the negative marker
        "train/labels/cam2_jpg.rf.555.txt": "",
        "train/labels/skip_jpg.rf.666.txt": "0 0.5 0.5 0.2 0.2\n",
    }
    for name, data in {**files, **{k: v.encode() for k, v in labels.items()}}.items():
        (ds / name).parent.mkdir(parents=True, exist_ok=True)
        (ds / name).write_bytes(data)
    git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "data"], check=True)
    return tmp_path / "mirrors"


def _source(mirror: Path) -> Source:
    commit = subprocess.run(
        ["git", "-C", str(mirror / "someone+fires" / "repo"), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    return Source(
        key="fires",
        repo="someone/fires",
        commit=commit,
        paths=("set",),
        licence="CC BY 4.0",
        attribution="test",
        use="train",
        classes={"0": "fire", "1": "smoke", "2": None},
        exclude=r"^skip",
    )


def test_prepare_keeps_one_copy_per_source_image_and_rewrites_labels(mirror: Path, tmp_path: Path) -> None:
    out = tmp_path / "set"
    entries = prepare.prepare(mirror, out, [_source(mirror)])
    by_name = {Path(e["origin"]).name: e for e in entries}
    # The unrotated valid/ copy stands for the source image 'a'; the excluded file is gone.
    assert sorted(by_name) == ["a_jpg.rf.333.jpg", "cam2_jpg.rf.555.jpg", "cam_jpg.rf.444.jpg"]
    a = by_name["a_jpg.rf.333.jpg"]
    assert a["boxes"][0] == [0.0, 0.4, 0.4, 0.6, 0.6]
    assert a["boxes"][1] == pytest.approx([1.0, 0.1, 0.2, 0.3, 0.6])  # the polygon's bounding box
    assert by_name["cam_jpg.rf.444.jpg"]["boxes"] == []  # the negative marker is no box
    # Near-identical frames are one group, hence one split.
    cam, cam2 = by_name["cam_jpg.rf.444.jpg"], by_name["cam2_jpg.rf.555.jpg"]
    assert cam["group"] == cam2["group"] and cam["split"] == cam2["split"]
    assert a["group"] != cam["group"]
    index = json.loads((out / "index.json").read_text())
    assert [e["file"] for e in index] == [e["file"] for e in entries]
    for e in entries:
        assert (out / e["file"]).is_file()
    # The committed-manifest check: identical build passes, a changed byte is named.
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"files": prepare.manifest_of(entries)}))
    assert prepare.check(entries, manifest) == []
    changed = [dict(e, sha256="0" * 64) if e is a else e for e in entries]
    assert prepare.check(changed, manifest) == [
        f"differs: {a['file']} ({prepare.manifest_of(entries)[a['file']]} vs {prepare.manifest_of(changed)[a['file']]})"
    ]


def test_prepare_names_a_bad_label_line(mirror: Path, tmp_path: Path) -> None:
    label = mirror / "someone+fires" / "repo" / "set" / "train" / "labels" / "cam2_jpg.rf.555.txt"
    label.write_text("7 0.5 0.5 0.1 0.1\n")
    root = mirror / "someone+fires" / "repo"
    subprocess.run(
        ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "bad"], check=True
    )
    with pytest.raises(prepare.PrepareError, match=r"fires:set/train/labels/cam2_jpg\.rf\.555\.txt:1: .*class"):
        prepare.prepare(mirror, tmp_path / "set", [_source(mirror)])


def test_prepare_says_which_mirror_is_missing(tmp_path: Path) -> None:
    src = Source("x", "nobody/nothing", "0" * 40, ("a",), "CC0", "-", "train")
    with pytest.raises(prepare.PrepareError, match=r"no git mirror of nobody/nothing"):
        prepare.prepare(tmp_path, tmp_path / "out", [src])


def _result(dets: list[list[float]], truth: list[list[float]]) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(dets, np.float32).reshape(-1, 6), np.asarray(truth, np.float32).reshape(-1, 5)


def test_average_precision_ranks_detections_across_images() -> None:
    box = [10, 10, 50, 50]
    perfect = [_result([[*box, 0.9, 0]], [[0, *box]]), _result([], [])]
    assert evaluate.average_precision(perfect, 0) == pytest.approx(1.0)
    # A false box outscoring the true one: precision 1/2 at recall 1 -> AP 0.5.
    false_first = [_result([[*box, 0.6, 0]], [[0, *box]]), _result([[*box, 0.9, 0]], [])]
    assert evaluate.average_precision(false_first, 0) == pytest.approx(0.5)
    # A box of the wrong class or too far off finds nothing; a duplicate is a false positive after the match.
    missed = [_result([[*box, 0.9, 1], [60, 60, 90, 90, 0.8, 0]], [[0, *box]])]
    assert evaluate.average_precision(missed, 0) == pytest.approx(0.0)
    dup = [_result([[*box, 0.9, 0], [*box, 0.8, 0]], [[0, *box]])]
    assert evaluate.average_precision(dup, 0) == pytest.approx(1.0)
    assert np.isnan(evaluate.average_precision(perfect, 1))  # no truth of that class at all


def test_image_level_precision_and_recall() -> None:
    score = np.array([0.95, 0.8, 0.6, 0.3, 0.7, 0.2])
    truth = np.array([True, True, True, True, False, False])
    assert evaluate.image_pr(score, truth, 0.5) == {
        "precision": 0.75,
        "recall": 0.75,
        "images_with_label": 4,
        "images": 6,
    }
    assert evaluate.image_pr(score, truth, 0.71)["precision"] == 1.0  # the 0.7 false image drops out
    assert evaluate.image_pr(score, truth, 0.71)["recall"] == 0.5


def test_negative_share_counts_images_with_any_detection_over_its_label_threshold() -> None:
    results = [_result([[0, 0, 5, 5, 0.6, 0]], []), _result([[0, 0, 5, 5, 0.6, 1]], []), _result([], [])]
    assert evaluate.negatives(results, {"fire": 0.5, "smoke": 0.7}) == {
        "images": 3,
        "with_detection": 1,
        "share": 0.333,
    }
