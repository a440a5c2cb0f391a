import re
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from hub.alerts.rules.dam_safety import (
    Instrument,
    Reservoir,
    ReservoirBand,
    inflow_exceeds_outflow,
    instrument_alarm,
    load_reservoirs,
    release_warning_due,
    reservoir_state,
    rising_toward,
)
from hub.alerts.rules.severity import Severity, SeverityThresholds
from plumbing.configfile import ConfigError

LEVELS = dict(
    dead_level_m=18.0,
    pre_flood_level_m=29.0,
    normal_level_m=32.5,
    design_flood_level_m=34.2,
    check_flood_level_m=35.1,
)


def reservoir(**overrides) -> Reservoir:
    fields = dict(reservoir_id="r1", name="Hồ minh hoạ", province="Hà Tĩnh", source="illustrative", **LEVELS)
    return Reservoir(**(fields | overrides))


@pytest.mark.parametrize(
    ("level", "band", "severity"),
    [
        (17.9, ReservoirBand.BELOW_DEAD, Severity.WARNING),
        (18.0, ReservoirBand.DEAD_TO_PRE_FLOOD, Severity.INFO),  # a named level starts the band above it
        (29.0, ReservoirBand.PRE_FLOOD_TO_NORMAL, Severity.INFO),
        (32.5, ReservoirBand.NORMAL_TO_DESIGN_FLOOD, Severity.WARNING),
        (34.19, ReservoirBand.NORMAL_TO_DESIGN_FLOOD, Severity.WARNING),
        (34.2, ReservoirBand.DESIGN_TO_CHECK_FLOOD, Severity.MAJOR),
        (35.1, ReservoirBand.ABOVE_CHECK_FLOOD, Severity.CRITICAL),
    ],
)
def test_reservoir_bands(level, band, severity):
    state = reservoir_state(level, reservoir())
    assert (state.band, state.severity) == (band, severity)


def test_band_severity_overrides_and_equal_pre_flood_and_normal():
    r = reservoir(band_severity={"pre_flood_to_normal": "minor"}, pre_flood_level_m=32.5)
    assert reservoir_state(30.0, r).band is ReservoirBand.DEAD_TO_PRE_FLOOD  # the empty band is skipped
    r = reservoir(band_severity={"dead_to_pre_flood": "minor"})
    assert reservoir_state(20.0, r).severity is Severity.MINOR


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"pre_flood_level_m": 17.0}, "pre_flood_level_m (17.0) must be above dead_level_m (18.0)"),
        ({"normal_level_m": 28.0}, "normal_level_m (28.0) must be at or above pre_flood_level_m (29.0)"),
        ({"design_flood_level_m": 32.5}, "design_flood_level_m (32.5) must be above normal_level_m (32.5)"),
        ({"check_flood_level_m": 34.0}, "check_flood_level_m (34.0) must be above design_flood_level_m (34.2)"),
    ],
)
def test_levels_out_of_order_name_the_fields(overrides, message):
    with pytest.raises(ValidationError, match=re.escape(message)):
        reservoir(**overrides)


def test_yaml_error_names_file_line_and_field(tmp_path):
    path = tmp_path / "reservoirs.yaml"
    path.write_text(
        "reservoirs:\n  - reservoir_id: r1\n    name: R\n    province: P\n    source: s\n"
        "    dead_level_m: 18\n    pre_flood_level_m: 29\n    normal_level_m: 32.5\n"
        "    design_flood_level_m: 36\n    check_flood_level_m: 35\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as err:
        load_reservoirs(path)
    text = str(err.value)
    assert str(path) in text and "line 2: reservoirs.0" in text and "check_flood_level_m (35.0)" in text


def test_rising_toward():
    assert rising_toward(30.0, 0.5, 32.5) == pytest.approx(5.0)  # 2.5 m at 0.5 m/h
    assert rising_toward(33.0, 0.5, 32.5) == 0.0  # already there
    assert rising_toward(30.0, 0.0, 32.5) is None
    assert rising_toward(30.0, -0.1, 32.5) is None
    with pytest.raises(ValueError, match="rate of rise"):
        rising_toward(30.0, float("nan"), 32.5)


def test_inflow_balance():
    assert inflow_exceeds_outflow(500.0, 300.0)
    assert not inflow_exceeds_outflow(300.0, 300.0)
    assert not inflow_exceeds_outflow(500.0, 300.0, margin_m3s=200.0)  # 200 is not over 200


def test_instrument_alarms():
    seepage = SeverityThresholds(warning=15, major=25, critical=40)
    assert instrument_alarm(14.9, seepage) is None
    assert instrument_alarm(15.0, seepage) is Severity.WARNING
    assert instrument_alarm(30.0, seepage) is Severity.MAJOR
    assert instrument_alarm(40.0, seepage) is Severity.CRITICAL
    displacement = SeverityThresholds(warning=10, major=20, magnitude=True)
    assert instrument_alarm(-22.0, displacement) is Severity.MAJOR  # 22 mm the other way
    assert instrument_alarm(-22.0, SeverityThresholds(warning=10)) is None


def test_instrument_config():
    ok = Instrument(instrument_id="s1", quantity="seepage", thresholds={"warning": 1})
    assert ok.unit == "l/s"
    with pytest.raises(ValidationError, match="quantity must be one of"):
        Instrument(instrument_id="t1", quantity="temperature", thresholds={"warning": 1})
    with pytest.raises(ValidationError, match="instrument_id used more than once: s1"):
        reservoir(instruments=[ok, ok])


def test_release_warning_due():
    planned = datetime(2025, 10, 14, 12, 0, tzinfo=UTC)
    lead = timedelta(hours=4)  # deadline 08:00 UTC
    early = release_warning_due(datetime(2025, 10, 14, 7, 30, tzinfo=UTC), planned, lead)
    assert early.deadline == datetime(2025, 10, 14, 8, 0, tzinfo=UTC)
    assert (early.due, early.seconds_late) == (False, -1800.0)
    on_time = release_warning_due(datetime(2025, 10, 14, 8, 0, tzinfo=UTC), planned, lead)
    assert (on_time.due, on_time.seconds_late) == (True, 0.0)
    late = release_warning_due(datetime(2025, 10, 14, 9, 15, tzinfo=UTC), planned, lead)
    assert (late.due, late.seconds_late) == (True, 4500.0)  # 1 h 15 min
    with pytest.raises(ValueError, match="timezone-aware"):
        release_warning_due(datetime(2025, 10, 14, 9, 15), planned, lead)
    with pytest.raises(ValueError, match="lead_time"):
        release_warning_due(planned, planned, timedelta(0))
