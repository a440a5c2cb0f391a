"""Every shipped sample rule file loads with its loader (a new sample needs an entry here)."""

from pathlib import Path

import pytest

from hub.alerts.rules.camera import DEFAULT_CAMERA_TABLE, load_camera_table
from hub.alerts.rules.dam_safety import load_reservoirs, reservoir_state
from hub.alerts.rules.flood_levels import load_flood_stations
from hub.alerts.rules.heavy_rain import RainBands, load_rain_bands
from hub.alerts.rules.nesterov import NesterovConfig, load_nesterov_config
from hub.alerts.rules.risk_level import RiskTables, load_risk_tables

SAMPLES = Path(__file__).resolve().parents[3] / "hub" / "alerts" / "sample_rules"
LOADERS = {
    "camera.yaml": load_camera_table,
    "flood_alarm_levels.yaml": load_flood_stations,
    "heavy_rain.yaml": load_rain_bands,
    "nesterov.yaml": load_nesterov_config,
    "reservoirs.yaml": load_reservoirs,
    "risk_levels.yaml": load_risk_tables,
}


def test_every_sample_has_a_loader():
    assert sorted(p.name for p in SAMPLES.glob("*.yaml")) == sorted(LOADERS)


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_sample_loads(name):
    assert LOADERS[name](SAMPLES / name) is not None


def test_samples_state_the_documented_defaults():
    # The samples spell the defaults out for editing; they must not drift from the code's defaults.
    rain = load_rain_bands(SAMPLES / "heavy_rain.yaml")
    assert rain.model_dump(exclude={"area", "source"}) == RainBands().model_dump(exclude={"area", "source"})
    assert load_risk_tables(SAMPLES / "risk_levels.yaml") == RiskTables()
    assert load_camera_table(SAMPLES / "camera.yaml") == DEFAULT_CAMERA_TABLE
    nesterov = load_nesterov_config(SAMPLES / "nesterov.yaml")
    assert nesterov.model_dump(exclude={"province", "source"}) == NesterovConfig(province="x").model_dump(
        exclude={"province", "source"}
    )


def test_sample_reservoir_is_usable():
    (res,) = load_reservoirs(SAMPLES / "reservoirs.yaml").reservoirs
    assert res.release is not None and res.release.warning_lead_time.total_seconds() == 4 * 3600
    assert reservoir_state(33.0, res).band == "normal_to_design_flood"
