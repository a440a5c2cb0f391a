"""The forecast configuration: the sample loads, and a bad file is reported with its file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from hub.forecast.config import ForecastConfig, ReservoirForecastConfig, StationForecastConfig, load_forecast_config
from plumbing.configfile import ConfigError

SAMPLE = Path(__file__).parents[3] / "hub" / "forecast" / "sample_forecast.yaml"


def test_the_sample_loads() -> None:
    cfg = load_forecast_config(SAMPLE)
    ids = [s.station_id for s in cfg.stations]
    assert ids == ["hong-ha-noi-long-bien", "hong-son-tay", "huong-kim-long"]
    assert cfg.stations[0].upstream[0].station_id == "hong-son-tay"
    assert cfg.stations[1].upstream == [] and cfg.stations[1].method == "auto"
    assert cfg.horizon_h == 24 and cfg.issue_every_h == 1 and cfg.refit_every_h == 24
    assert cfg.reservoirs[0].storage_curve[0] == (10.0, 0.0)
    assert cfg.stations[2].rain[0].key == "rain:river-kimlong-01/rain"
    assert cfg.warn_confidence == ForecastConfig().warn_confidence == 0.8
    assert cfg.stations[2].rain_forecast == "huong"


def test_errors_name_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "forecast.yaml"
    path.write_text(
        "stations:\n"
        "  - station_id: hong-son-tay\n"
        "    methd: auto\n"
        "reservoirs:\n"
        "  - reservoir_id: r1\n"
        "    storage_curve: [[10, 0], [12, 5.0e6], [11, 9.0e6]]\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as exc:
        load_forecast_config(path)
    text = str(exc.value)
    assert str(path) in text
    assert "methd" in text and "line 3" in text
    assert "storage_curve levels must increase strictly: 11 m after 12 m" in text


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"station_id": "a", "upstream": [{"station_id": "a"}]}, "lists itself as upstream"),
        ({"station_id": "a", "upstream": [{"station_id": "b"}, {"station_id": "b"}]}, "more than once: b"),
        ({"station_id": "a", "history_days": 5, "min_history_h": 240}, "more than history_days"),
        ({"station_id": "a", "method": "lstm"}, "Input should be"),
        ({"station_id": "a", "upstream": [{"station_id": "b", "travel_time_h": -1}]}, "greater than or equal"),
        ({"station_id": "a", "rain": [{"node_id": "n", "sensor_id": "r"}] * 2}, "rain gauge is listed more than once"),
        ({"station_id": "a", "rain": [{"node_id": "n"}]}, "sensor_id"),
    ],
)
def test_station_rules(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        StationForecastConfig.model_validate(kwargs)


def test_reservoir_rules() -> None:
    ok = {"reservoir_id": "r", "storage_curve": [(10.0, 0.0), (20.0, 1e6)]}
    ReservoirForecastConfig.model_validate(ok)
    with pytest.raises(ValidationError, match="volumes must increase strictly"):
        ReservoirForecastConfig.model_validate({**ok, "storage_curve": [(10.0, 5.0), (20.0, 5.0)]})
    with pytest.raises(ValidationError, match="at least 2"):
        ReservoirForecastConfig.model_validate({**ok, "storage_curve": [(10.0, 0.0)]})
    with pytest.raises(ValidationError, match="inflow_node_id and inflow_sensor_id together"):
        ReservoirForecastConfig.model_validate({**ok, "inflow_node_id": "n1"})


def test_ids_unique_and_horizon_bounded() -> None:
    with pytest.raises(ValidationError, match="station_id used more than once: a"):
        ForecastConfig.model_validate({"stations": [{"station_id": "a"}, {"station_id": "a"}]})
    with pytest.raises(ValidationError, match="less than or equal to 24"):
        ForecastConfig.model_validate({"horizon_h": 48})
    with pytest.raises(ValidationError, match="greater than 0"):
        ForecastConfig.model_validate({"warn_confidence": 0})
    with pytest.raises(ValidationError, match="less than or equal to 1"):
        ForecastConfig.model_validate({"warn_confidence": 1.2})
