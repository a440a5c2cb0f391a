"""Where every real image comes from: one entry per source, with its licence and what it may be used for.

Only sources whose licence allows publishing a derived model (CC0, CC BY, MIT, Apache, BSD, public domain) have
``use="train"``; the others are ``"eval"``: measured on, never trained on, never committed. DATASETS.md is the
readable version of this table; prepare.py fetches nothing itself, it reads the git mirrors of these commits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class Source:
    key: str
    repo: str  # owner/name on GitHub
    commit: str
    paths: tuple[str, ...]
    licence: str
    attribution: str
    use: Literal["train", "eval"]
    # Source class id (as written in its label files) to our label; None: the box marks "no fire here" (a negative).
    classes: dict[str, str | None] = field(default_factory=dict)
    notes: str = ""
    exclude: str = ""  # regular expression: image file names left out


FIRE8 = Source(
    key="fire8",
    repo="Abonia1/YOLOv8-Fire-and-Smoke-Detection",
    commit="f2c67efae8ff249f2c3e1c34df0fd3a6351a1efb",
    paths=("datasets/fire-8",),
    licence="CC BY 4.0 (datasets/fire-8/README.dataset.txt and data.yaml: roboflow.license)",
    attribution="'fire' v8 by Roboflow Universe user custom-thxhn (universe.roboflow.com/custom-thxhn/fire-wrpgm), "
    "as committed in Abonia1/YOLOv8-Fire-and-Smoke-Detection",
    use="train",
    # 'default' boxes cover whole CCTV frames with no fire in them: Roboflow's placeholder for a negative image.
    classes={"0": "fire", "1": None, "2": "smoke"},
    notes="979 images, 608x608 (stretched by the exporter); many frames from the same few videos and CCTV cameras, "
    "so the split is by group of near-identical scenes, never by frame",
)

NKEH = Source(
    key="nkeh",
    repo="Nkeh/early-fire-detection-yolo11",
    # The images exist only in the repository's first commit (later ones deleted them).
    commit="b8dcb0faac0db270a3607e9af3e9349a0f62d640",
    paths=("Fire-Smoke-Detection-Yolov11-1",),
    licence="CC BY 4.0 (Fire-Smoke-Detection-Yolov11-1/README.dataset.txt and data.yaml: roboflow.license)",
    attribution="'Fire-Smoke-Detection-Yolov11' v1 by Roboflow Universe workspace ransomworkspace "
    "(universe.roboflow.com/ransomworkspace/fire-smoke-detection-yolov11-gl5ah), as committed by Nkeh",
    use="train",
    classes={"0": "fire", "1": "smoke"},
    notes="3,162 source images; the exporter's training copies are three +-15 degree rotations of each, so one copy "
    "per source image is kept (the unrotated valid/test copy when there is one). Files named Datacluster* (a "
    "company's sample images with terms of their own) are left out",
    exclude=r"^Datacluster",
)

TOWER = Source(
    key="tower",
    repo="plasmapotatos/wildfire-smoke-detection",
    commit="1050f9d",
    paths=("trial/20190925_FIRE_wc-s-mobo-c", "trial/20180728_FIRE_rm-w-mobo-c"),
    licence="none stated in the repository (frames from HPWREN cameras)",
    attribution="HPWREN (hpwren.ucsd.edu) camera frames as arranged by plasmapotatos/wildfire-smoke-detection",
    use="eval",
    notes="fixed forest-tower sequences, one 3072x2048 frame a minute, named <unix time>_<seconds from ignition>; "
    "evaluation only; the repository's other sequences are left unused for an independent check",
)

# Photographs without fire, for "how often does the model see fire where there is none": evaluation only (their
# licences could not be confirmed), never trained on, never committed.
CONFOUNDERS = Source(
    key="confounders",
    repo="bcrodrigo/capstone_project",
    commit="eab3c59d27ed37db1327115602325ab1eb6cbbcb",
    paths=(
        "model_demo/03_the_wildfire_dataset_250x250/test/nofire",
        "model_demo/02_forest_fire_dataset/testing/nofire",
    ),
    licence="repository MIT (its code); the images come from The Wildfire Dataset (El-Madafri et al., 2023) and "
    "DeepFire (Khan et al., 2022), whose image licences were not confirmed",
    attribution="The Wildfire Dataset test split and DeepFire testing split, 250x250, as committed by bcrodrigo",
    use="eval",
    notes="459 no-fire photographs: smoke look-alikes (fog, clouds, mist), fire look-alikes (sunsets, sun, red "
    "leaves, lights) and forests",
)
FOG = Source(
    key="fog",
    repo="ankitaS11/Vechicle-Detection-in-Adverse-Weather",
    commit="7037faa3177e37aba8e4e27862d2522ea4eaf453",
    paths=("DAWN/Fog",),
    licence="none stated in the repository (DAWN, Kenk and Hassaballah 2020): evaluation only",
    attribution="DAWN dataset, Fog subset, as committed by ankitaS11",
    use="eval",
    notes="300 road scenes in fog, haze and mist: the smoke look-alike a valley camera sees every morning",
)

SOURCES = {s.key: s for s in (FIRE8, NKEH, TOWER, CONFOUNDERS, FOG)}
NEGATIVE_SOURCES = ("confounders", "fog")
