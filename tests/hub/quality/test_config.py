"""The quality config: resolution order, the sample file, and errors with file, line and field."""

from pathlib import Path

import pytest

from hub.quality.config import BUILTIN_DEFAULTS, QualityConfig, load_quality_config
from plumbing.configfile import ConfigError
from wire.quantities import Quantity

SAMPLE = Path(__file__).resolve().parents[3] / "hub" / "quality" / "sample_quality.yaml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "quality.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_every_quantity_has_defaults_with_hard_limits_and_a_gap_check():
    assert set(BUILTIN_DEFAULTS) == set(Quantity)
    for quantity, checks in BUILTIN_DEFAULTS.items():
        assert checks.hard_limits is not None, quantity
        assert checks.gap is not None, quantity


def test_rainfall_has_no_flat_line_or_spike_and_rivers_do():
    rain = BUILTIN_DEFAULTS[Quantity.RAINFALL]
    assert rain.flat_line is None and rain.spike is None and rain.rate_of_change is None
    river = BUILTIN_DEFAULTS[Quantity.WATER_LEVEL]
    reservoir = BUILTIN_DEFAULTS[Quantity.RESERVOIR_LEVEL]
    assert river.flat_line is not None and reservoir.flat_line is not None
    assert reservoir.flat_line.duration_s > river.flat_line.duration_s


def test_sample_loads_and_states_the_water_level_defaults():
    config = load_quality_config(SAMPLE)
    assert config.defaults[Quantity.WATER_LEVEL] == BUILTIN_DEFAULTS[Quantity.WATER_LEVEL]
    longbien = config.checks_for(Quantity.WATER_LEVEL, "river-longbien-01", "stage")
    assert longbien.soft_limits is not None and longbien.soft_limits.max == 14.5
    assert longbien.spike == BUILTIN_DEFAULTS[Quantity.WATER_LEVEL].spike  # inherited
    assert config.checks_for(Quantity.WATER_LEVEL, "river-flt-002", "stage").spike is None  # switched off


def test_each_level_replaces_whole_checks():
    config = QualityConfig.model_validate(
        {
            "defaults": {"water_level": {"spike": {"threshold": 0.5}, "flat_line": None}},
            "stations": [{"node_id": "n1", "sensor_id": "stage", "spike": {"threshold": 1.0, "enabled": False}}],
        }
    )
    other = config.checks_for(Quantity.WATER_LEVEL, "n2", "stage")
    assert other.spike is not None and other.spike.threshold == 0.5
    assert other.flat_line is None
    assert other.rate_of_change == BUILTIN_DEFAULTS[Quantity.WATER_LEVEL].rate_of_change
    n1 = config.checks_for(Quantity.WATER_LEVEL, "n1", "stage")
    assert n1.spike is not None and not n1.spike.enabled
    # The station entry is keyed by node and sensor only; another sensor on n1 keeps the defaults.
    assert config.checks_for(Quantity.WATER_LEVEL, "n1", "stage2").spike == other.spike


def test_errors_name_file_line_and_field(tmp_path):
    path = write(
        tmp_path,
        "defaults:\n"
        "  water_level:\n"
        "    spike: {threshold: -1}\n"  # line 3
        "  river_flow:\n"  # line 4: not a quantity
        "    gap: {factor: 2}\n"
        "stations:\n"
        "  - node_id: n1\n"
        "    sensor_id: stage\n"
        "    hard_limits: {min: 5, max: 1}\n"  # line 9
        "    colour: red\n",  # line 10
    )
    with pytest.raises(ConfigError) as err:
        load_quality_config(path)
    text = str(err.value)
    assert str(path) in text
    assert "line 3: defaults.water_level.spike.threshold" in text
    # An unknown quantity is named with the quantities there are (plumbing gives the line of its settings).
    assert "line 5: defaults.river_flow.[key]: Input should be 'water_level'" in text
    assert "line 9: stations.0.hard_limits" in text and "min (5) must be below max (1)" in text
    assert "line 10: stations.0.colour" in text and "Extra inputs are not permitted" in text


def test_duplicate_station_and_soft_outside_hard(tmp_path):
    path = write(
        tmp_path,
        "stations:\n"
        "  - {node_id: n1, sensor_id: stage}\n"
        "  - node_id: n1\n"
        "    sensor_id: stage\n"  # line 4
        "    hard_limits: {min: 0, max: 10}\n"
        "    soft_limits: {max: 12}\n",
    )
    with pytest.raises(ConfigError) as err:
        load_quality_config(path)
    text = str(err.value)
    assert "line 4: stations.1.sensor_id: node 'n1' sensor 'stage' is listed twice" in text
    assert "soft_limits.max (12) is above hard_limits.max (10)" in text


def test_a_limit_needs_a_bound(tmp_path):
    with pytest.raises(ConfigError, match=r"line 3: defaults\.pm25\.soft_limits: Value error, give min, max or both"):
        load_quality_config(write(tmp_path, "defaults:\n  pm25:\n    soft_limits: {flag: bad}\n"))
