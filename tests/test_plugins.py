"""Every registered plugin is documented and has a sample config that validates."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

import edge.drivers  # noqa: F401 - registers the drivers
import hub.alerts.notify  # noqa: F401 - registers the notifiers
from edge.drivers.registry import DRIVERS
from hub.alerts.notify.config import NotifyConfig
from hub.alerts.notify.registry import NOTIFIERS
from wire.nodeconfig import SensorConfig

DOCS = Path(__file__).resolve().parents[1] / "docs"
DRIVER_DOCS = {"simulated": DOCS / "simulator.md"}


def yaml_blocks(path: Path) -> list[object]:
    return [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", path.read_text(encoding="utf-8"), re.S)]


def test_every_driver_has_docs_with_a_valid_sample_sensor():
    assert DRIVERS.names() == ["modbus_tcp", "simulated"]
    for key in DRIVERS.names():
        doc = DRIVER_DOCS.get(key, DOCS / "drivers" / f"{key}.md")
        assert doc.exists(), f"driver {key} has no docs ({doc})"
        samples = []
        for block in yaml_blocks(doc):
            items = block if isinstance(block, list) else [block]
            for item in items:
                if (
                    isinstance(item, dict)
                    and isinstance(item.get("driver"), dict)
                    and item["driver"].get("type") == key
                ):
                    samples.append(SensorConfig.model_validate(item))
                elif isinstance(item, dict):
                    for sensor in item.get("sensors", []) if isinstance(item.get("sensors"), list) else []:
                        if isinstance(sensor, dict) and sensor.get("driver", {}).get("type") == key:
                            samples.append(SensorConfig.model_validate(sensor))
        assert samples, f"docs of driver {key} have no sample sensor using it"


def test_every_notifier_is_documented_with_a_valid_sample():
    doc = DOCS / "notifications.md"
    blocks = yaml_blocks(doc)
    documented = {item["type"] for b in blocks if isinstance(b, list) for item in b if isinstance(item, dict)}
    assert set(NOTIFIERS.names()) <= documented
    full = [b["notify"] for b in blocks if isinstance(b, dict) and "notify" in b]
    assert full, "docs/notifications.md has no complete notify: example"
    config = NotifyConfig.model_validate(full[0])
    assert {t.type for t in config.targets} == set(NOTIFIERS.names())
