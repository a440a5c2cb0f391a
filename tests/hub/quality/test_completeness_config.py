"""The quality file's ``completeness`` section: defaults, per-station resolution, the sample, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.alerts.rules.severity import Severity
from hub.quality.config import CompletenessSettings, QualityConfig, load_quality_config
from plumbing.configfile import ConfigError

SAMPLE = Path(__file__).resolve().parents[3] / "hub" / "quality" / "sample_quality.yaml"


def test_defaults_without_a_section() -> None:
    c = QualityConfig().completeness
    assert (c.alarm, c.min_ratio, c.min_hours_into_day, c.severity, c.every_s) == (
        True,
        0.8,
        6.0,
        Severity.MINOR,
        600.0,
    )
    assert c.alarms_on


def test_sample_sets_a_station_target_and_switches_one_sensor_off() -> None:
    c = load_quality_config(SAMPLE).completeness
    assert c.rule_for("river-kimlong-01", "stage").min_ratio == 0.6
    assert c.rule_for("river-flt-001", "battery").alarm is False
    assert c.rule_for("river-flt-001", "stage").alarm is True
    assert c.rule_for("elsewhere", "stage").min_ratio == 0.8


def test_the_sensor_entry_goes_over_the_node_entry_whatever_the_order() -> None:
    c = CompletenessSettings.model_validate(
        {
            "stations": [
                {"node_id": "n", "sensor_id": "s", "min_ratio": 0.3},
                {"node_id": "n", "min_ratio": 0.5, "severity": "major"},
            ]
        }
    )
    assert (c.rule_for("n", "s").min_ratio, c.rule_for("n", "s").severity) == (0.3, Severity.MAJOR)
    assert c.rule_for("n", "t").min_ratio == 0.5


def test_off_everywhere_but_one_station_keeps_the_rule_on() -> None:
    c = CompletenessSettings.model_validate({"alarm": False, "stations": [{"node_id": "n", "alarm": True}]})
    assert c.alarms_on and c.rule_for("n", "s").alarm and not c.rule_for("m", "s").alarm
    assert not CompletenessSettings(alarm=False).alarms_on


def test_errors_name_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "q.yaml"
    path.write_text(
        "completeness:\n"
        "  min_ratio: 1.5\n"  # line 2
        "  min_hours_into_day: 24\n"  # line 3
        "  severity: loud\n"  # line 4
        "  every_s: 0.5\n"  # line 5
        "  stations:\n"
        "    - {node_id: n1, min_ratio: 0}\n"  # line 7
        "    - {node_id: n1, sensor_id: s, colour: red}\n"  # line 8
    )
    with pytest.raises(ConfigError) as err:
        load_quality_config(path)
    text = str(err.value)
    assert "line 2: completeness.min_ratio" in text
    assert "line 3: completeness.min_hours_into_day" in text
    assert "line 4: completeness.severity" in text
    assert "line 5: completeness.every_s" in text
    assert "line 7: completeness.stations.0.min_ratio" in text
    assert "line 8: completeness.stations.1.colour" in text and "Extra inputs are not permitted" in text


def test_a_station_listed_twice(tmp_path: Path) -> None:
    path = tmp_path / "q.yaml"
    path.write_text("completeness:\n  stations:\n    - {node_id: n1}\n    - {node_id: n1, min_ratio: 0.5}\n")
    with pytest.raises(ConfigError) as err:
        load_quality_config(path)
    assert "listed more than once in completeness.stations: n1/*" in str(err.value)
