"""Severity of a confirmed camera detection of fire or smoke, raised with the area's fire-danger level I-V."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hub.alerts.rules.severity import Severity
from plumbing.configfile import load_yaml_model

# What an officer reads for a detector's label (alarm messages, the console); an unknown label is shown as it is.
LABEL_VI = {"fire": "Lửa", "smoke": "Khói", "flood": "Ngập", "person": "Người", "vehicle": "Phương tiện"}


class CameraSeverityTable(BaseModel):
    """Which detections alert, and how severe they are at each fire-danger level."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    labels: frozenset[str] = Field(
        frozenset({"fire", "smoke"}), min_length=1, description="Detector labels that mean a fire (case-insensitive)"
    )
    min_score: float = Field(
        0.7, ge=0, le=1, description="Confirmed-track score below which nothing is raised (Frigate's 0.7 default)"
    )
    by_fire_danger: tuple[Severity, Severity, Severity, Severity, Severity] = Field(
        (Severity.WARNING, Severity.MINOR, Severity.MAJOR, Severity.CRITICAL, Severity.CRITICAL),
        description="Severity at fire-danger level I, II, III, IV, V",
    )
    unknown_fire_danger: int = Field(
        3, ge=1, le=5, description="Level assumed where the area has no fire-danger index (III: patrols are due)"
    )

    @field_validator("labels")
    @classmethod
    def _lower(cls, labels: frozenset[str]) -> frozenset[str]:
        return frozenset(label.strip().lower() for label in labels)

    @model_validator(mode="after")
    def _rising(self) -> CameraSeverityTable:
        if any(b < a for a, b in pairwise(self.by_fire_danger)):
            raise ValueError("by_fire_danger must not fall as the fire-danger level rises")
        return self


DEFAULT_CAMERA_TABLE = CameraSeverityTable()


def camera_alert_severity(
    label: str, score: float, fire_danger_level: int | None, table: CameraSeverityTable = DEFAULT_CAMERA_TABLE
) -> Severity | None:
    """Severity for a confirmed detection; None for a label that is not fire / smoke or a score below min_score.

    ``fire_danger_level`` is the area's level 1-5 (I-V) today, None where it has none.
    """
    level = table.unknown_fire_danger if fire_danger_level is None else fire_danger_level
    if not 1 <= level <= 5:
        raise ValueError(f"fire_danger_level must be 1-5 (I-V), not {fire_danger_level}")
    if label.strip().lower() not in table.labels or not score >= table.min_score:
        return None
    return table.by_fire_danger[level - 1]


def load_camera_table(path: Path | str) -> CameraSeverityTable:
    """A YAML table (see ``hub/alerts/sample_rules/camera.yaml``)."""
    return load_yaml_model(path, CameraSeverityTable)
