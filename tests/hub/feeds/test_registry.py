"""Walking the feed-kind registry: every kind has docs, examples in every format that import cleanly, and a source
config that validates."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from hub.feeds.anomaly import AnomalyRules
from hub.feeds.config import FeedsConfig
from hub.feeds.formats import read_file
from hub.feeds.importers import FEED_KINDS, ImportContext
from hub.feeds.pipeline import run_import
from hub.feeds.units import load_units

ROOT = Path(__file__).parents[3]


@pytest.mark.parametrize("kind", FEED_KINDS.names())
def test_kind_is_documented_with_examples_and_a_source_config(kind: str) -> None:
    docs = (ROOT / "docs" / "feeds.md").read_text(encoding="utf-8")
    assert f"### `{kind}`" in docs
    ctx = ImportContext(units=load_units(), rules=AnomalyRules(), sink=None, state=None, dry_run=True)
    for fmt in ("csv", "json", "xlsx"):
        doc = read_file(ROOT / "docs" / "examples" / "feeds" / f"{kind}.{fmt}")
        assert doc.kind == kind and doc.format_version == 1
        report = run_import(doc, ctx)
        assert report.ok and report.points > 0, report.summary()
    config = FeedsConfig.model_validate({"sources": [{"name": "s", "type": kind, "url": "http://127.0.0.1/x.csv"}]})
    assert config.sources[0].type == kind


def test_the_serve_config_in_the_docs_validates() -> None:
    text = (ROOT / "docs" / "feeds.md").read_text(encoding="utf-8")
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", text, re.S)]
    configs = [FeedsConfig.model_validate(b) for b in blocks if isinstance(b, dict) and "sources" in b]
    assert configs and {s.type for s in configs[0].sources} == {"indicators", "feedback"}
