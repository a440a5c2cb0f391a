"""The feeds' config file (``iocgw feeds serve --config feeds.yaml``; optional for ``import``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hub.config import HubInflux
from hub.feeds.anomaly import AnomalyRules
from hub.feeds.importers import FEED_KINDS
from hub.feeds.merge import HazardSettings
from plumbing.configfile import load_yaml_model

SourceUnion: Any = FEED_KINDS.config_union()


class FeedsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data_dir: Path = Field(Path("feeds-data"), description="feeds.db: dead letters, import log, feedback records")
    reference_dir: Path | None = Field(None, description="admin-unit tables; default: the ones shipped")
    influx: HubInflux = HubInflux()
    anomaly: AnomalyRules = AnomalyRules()
    hazard: HazardSettings = HazardSettings()
    merge_every_s: float = Field(300.0, gt=0, description="how often serve rewrites the unit_hazard view")
    retry_min_s: float = Field(5.0, gt=0, description="first retry after a source failed (then doubling)")
    sources: list[SourceUnion] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> FeedsConfig:
        names = [s.name for s in self.sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"source names must be unique: {', '.join(dupes)}")
        return self


def load_feeds_config(path: Path | str) -> FeedsConfig:
    return load_yaml_model(path, FeedsConfig)
