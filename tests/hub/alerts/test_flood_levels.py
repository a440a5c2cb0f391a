import math
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from hub.alerts.rules.flood_levels import (
    FloodStation,
    assess_flood,
    flood_level,
    flood_level_hysteresis,
    flood_stations_from_csv,
    load_flood_stations,
    margin_to_next_level,
    rate_of_rise_m_per_h,
    station_slug,
)
from plumbing.configfile import ConfigError

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = ROOT / "hub" / "alerts" / "sample_rules" / "flood_alarm_levels.yaml"
SHARED_CSV = ROOT.parent / "shared" / "data" / "flood_alarm_levels.csv"
T0 = datetime(2025, 9, 30, 0, 0, tzinfo=UTC)


def long_bien(**overrides) -> FloodStation:
    """Hà Nội (Long Biên) on the Hồng: BĐ1/2/3 = 9.5/10.5/11.5 m (QĐ 05/2020/QĐ-TTg)."""
    fields = dict(
        station_id="hong-ha-noi-long-bien",
        river="Hồng",
        name="Hà Nội (Long Biên)",
        province="Hà Nội",
        bd1_m=9.5,
        bd2_m=10.5,
        bd3_m=11.5,
        source="QĐ 05/2020/QĐ-TTg",
    )
    return FloodStation(**(fields | overrides))


@pytest.mark.parametrize(
    ("stage", "level"),
    [(0.0, 0), (9.49, 0), (9.5, 1), (10.0, 1), (10.5, 2), (11.49, 2), (11.5, 3), (14.13, 3)],
)
def test_level_is_reached_at_the_threshold(stage, level):
    assert flood_level(stage, long_bien()) == level


def test_nan_stage_is_refused_not_read_as_below_bd1():
    with pytest.raises(ValueError, match="finite"):
        flood_level(math.nan, long_bien())


def test_margin_to_next_level():
    st_ = long_bien()
    assert margin_to_next_level(9.2, st_) == (1, pytest.approx(0.3))  # 9.5 - 9.2
    assert margin_to_next_level(10.5, st_) == (3, pytest.approx(1.0))  # at BĐ2: 11.5 - 10.5 to BĐ3
    assert margin_to_next_level(11.5, st_) is None  # at BĐ3 there is no next level


def test_hysteresis_rising_crosses_at_the_threshold_and_can_jump():
    st_ = long_bien()  # hysteresis 0.05 m
    assert flood_level_hysteresis(9.5, st_, previous_level=0) == 1
    assert flood_level_hysteresis(11.6, st_, previous_level=0) == 3  # a jump of three levels at once


def test_hysteresis_falling_holds_until_below_threshold_minus_hysteresis():
    st_ = long_bien()
    assert flood_level_hysteresis(10.46, st_, previous_level=2) == 2  # 10.46 >= 10.5 - 0.05
    assert flood_level_hysteresis(10.45, st_, previous_level=2) == 2  # exactly 10.45: still held
    assert flood_level_hysteresis(10.44, st_, previous_level=2) == 1  # below 10.45: drops
    assert flood_level_hysteresis(9.0, st_, previous_level=3) == 0  # falls through all three at once
    assert flood_level_hysteresis(10.47, st_, previous_level=3) == 2  # leaves 3, lands on held 2


def test_hysteresis_rejects_a_bad_previous_level():
    with pytest.raises(ValueError, match="previous_level"):
        flood_level_hysteresis(10.0, long_bien(), previous_level=4)


@given(
    threshold=st.sampled_from([1, 2, 3]),
    noise=st.lists(st.floats(min_value=-0.99, max_value=0.99), min_size=2, max_size=200),
)
def test_a_stage_hovering_on_a_threshold_does_not_flap(threshold, noise):
    """A stage that has reached BĐn and then wanders within +-hysteresis of it stays at level n."""
    st_ = long_bien(hysteresis_m=0.1)
    bd = st_.thresholds[threshold - 1]
    level = flood_level_hysteresis(bd, st_, previous_level=0)
    assert level == threshold
    for n in noise:
        level = flood_level_hysteresis(bd + n * st_.hysteresis_m, st_, level)
        assert level == threshold


@given(st.lists(st.floats(min_value=8.0, max_value=13.0), min_size=1, max_size=100))
def test_hysteresis_never_further_than_one_band_from_the_plain_level(stages):
    st_ = long_bien()
    level = 0
    for stage in stages:
        plain = flood_level(stage, st_)
        level = flood_level_hysteresis(stage, st_, level)
        assert level == plain or (level > plain and stage >= st_.thresholds[level - 1] - st_.hysteresis_m)


def test_rate_of_rise_least_squares():
    # Stage 10.0, 10.2, 10.4 at 0, 30, 60 min: slope 0.4 m/h.
    samples = [(T0, 10.0), (T0 + timedelta(minutes=30), 10.2), (T0 + timedelta(minutes=60), 10.4)]
    assert rate_of_rise_m_per_h(samples) == pytest.approx(0.4)
    # x = 0, 1, 2 h; y = 1, 3, 2 m: x mean 1, y mean 2; sxy = (-1)(-1) + 0 + (1)(0) = 1; sxx = 2 -> 0.5 m/h,
    # where the last two readings alone would say -1 m/h.
    noisy = [(T0, 1.0), (T0 + timedelta(hours=1), 3.0), (T0 + timedelta(hours=2), 2.0)]
    assert rate_of_rise_m_per_h(noisy) == pytest.approx(0.5)


def test_rate_of_rise_window_and_degenerate_cases():
    samples = [(T0, 5.0), (T0 + timedelta(hours=2), 9.0), (T0 + timedelta(hours=3), 9.5)]
    # Whole series: x = 0, 2, 3 h (mean 5/3), y = 5, 9, 9.5 (mean 47/6);
    # sxy = (-5/3)(-17/6) + (1/3)(7/6) + (4/3)(5/3) = 22/3, sxx = 25/9 + 1/9 + 16/9 = 14/3 -> 11/7 m/h.
    assert rate_of_rise_m_per_h(samples) == pytest.approx(11 / 7)
    # The 1 h window keeps the last two samples (the first is 3 h older than the newest): 0.5 m in 1 h.
    assert rate_of_rise_m_per_h(samples, window=timedelta(hours=1)) == pytest.approx(0.5)
    assert rate_of_rise_m_per_h([]) is None
    assert rate_of_rise_m_per_h([(T0, 1.0)]) is None
    assert rate_of_rise_m_per_h([(T0, 1.0), (T0, 2.0)]) is None  # zero span
    assert rate_of_rise_m_per_h([(T0, 1.0), (T0 + timedelta(hours=1), math.nan)]) is None  # NaN skipped
    falling = [(T0, 2.0), (T0 + timedelta(hours=4), 1.0)]
    assert rate_of_rise_m_per_h(list(reversed(falling))) == pytest.approx(-0.25)  # order does not matter


def test_assessment_combines_level_margin_rate_and_eta():
    st_ = long_bien(historical_peak_m=14.13)
    samples = [(T0, 10.0), (T0 + timedelta(hours=1), 10.3)]
    a = assess_flood(10.3, st_, samples=samples)
    assert a.level == 1 and a.next_level == 2
    assert a.above_level_m == pytest.approx(0.8)  # 10.3 - 9.5
    assert a.margin_m == pytest.approx(0.2)  # 10.5 - 10.3
    assert a.rate_m_per_h == pytest.approx(0.3)
    assert a.hours_to_next_level == pytest.approx(0.2 / 0.3)
    assert not a.above_historical_peak
    assert assess_flood(14.2, st_).above_historical_peak
    # Held at 2 by hysteresis while the stage is 10.47: margin is to BĐ3, and the stage is 0.03 m below BĐ2.
    held = assess_flood(10.47, st_, previous_level=2)
    assert (held.level, held.next_level) == (2, 3)
    assert held.above_level_m == pytest.approx(-0.03)
    assert held.hours_to_next_level is None  # no samples, no rate


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"bd1_m": 10.5}, "bd1_m (10.5) must be below bd2_m"),
        ({"bd2_m": 11.5}, "bd2_m (11.5) must be below bd3_m"),
        ({"historical_peak_m": 11.0}, "historical_peak_m"),
        ({"hysteresis_m": 1.0}, "hysteresis_m"),
        ({"hysteresis_m": -0.1}, "hysteresis_m"),
        ({"source": "  "}, "source"),
        ({"zone": 5}, "zone"),
        ({"node_id": "river-01"}, "node_id and sensor_id"),
    ],
)
def test_validation_errors_name_the_field(overrides, message):
    with pytest.raises(ValidationError, match=re.escape(message)):
        long_bien(**overrides)


def test_yaml_errors_give_file_line_and_field(tmp_path):
    path = tmp_path / "levels.yaml"
    path.write_text(
        "stations:\n"
        "  - station_id: a\n    river: R\n    name: A\n    province: P\n"
        "    bd1_m: 2.0\n    bd2_m: 1.0\n    bd3_m: 3.0\n    source: QĐ 05/2020/QĐ-TTg\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as err:
        load_flood_stations(path)
    assert "line 2: stations.0" in str(err.value) and "bd1_m (2.0) must be below bd2_m (1.0)" in str(err.value)


def test_station_slug():
    assert station_slug("Hồng", "Hà Nội (Long Biên)") == "hong-ha-noi-long-bien"
    assert station_slug("Đà Rằng", "Phú Lâm") == "da-rang-phu-lam"


def test_csv_rows_are_checked_and_reported_by_number(tmp_path):
    path = tmp_path / "levels.csv"
    path.write_text(
        "river,station,province,bd1_m,bd2_m,bd3_m,source\n"
        "Hồng,Sơn Tây,Hà Nội,12.4,13.4,14.4,QĐ 05/2020/QĐ-TTg\n"
        "Đà,Trung Hà,Phú Thọ,16.0,16.0,17.0,QĐ 05/2020/QĐ-TTg\n"
        "Cả,Nam Đàn,Nghệ An,5.4,6.9,7.9,\n"
        "Mã,Giàng,Thanh Hóa,x,5.5,6.5,QĐ 632/QĐ-TTg\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as err:
        flood_stations_from_csv(path)
    problems = err.value.problems
    assert len(problems) == 3
    assert problems[0].startswith("row 2 (line 3): ") and "bd1_m (16.0) must be below bd2_m" in problems[0]
    assert problems[1].startswith("row 3 (line 4): source:")
    assert problems[2].startswith("row 4 (line 5): bd1_m:")


def test_csv_header_and_duplicates(tmp_path):
    path = tmp_path / "levels.csv"
    path.write_text("river,station,province,bd1_m,bd2_m,source\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="missing columns: bd3_m"):
        flood_stations_from_csv(path)
    row = "Hồng,Sơn Tây,Hà Nội,12.4,13.4,14.4,QĐ 05/2020/QĐ-TTg\n"
    path.write_text("river,station,province,bd1_m,bd2_m,bd3_m,source\n" + row + row, encoding="utf-8")
    with pytest.raises(ConfigError, match="used more than once: hong-son-tay"):
        flood_stations_from_csv(path)
    path.write_text("river,station,province,bd1_m,bd2_m,bd3_m,source,zone\n" + row.strip() + ",2\n", encoding="utf-8")
    assert flood_stations_from_csv(path).stations[0].zone == 2


def test_sample_table_has_all_sixteen_stations_with_their_sources():
    table = load_flood_stations(SAMPLE)
    assert len(table.stations) == 16
    assert all(s.source.startswith(("QĐ 05/2020/QĐ-TTg", "QĐ 632/QĐ-TTg")) for s in table.stations)
    kim_long = table.by_id()["huong-kim-long"]
    assert kim_long.thresholds == (1.0, 2.0, 3.5)


@pytest.mark.skipif(not SHARED_CSV.exists(), reason="shared data not checked out next to the repository")
def test_csv_conversion_keeps_every_row_and_matches_the_sample():
    converted = flood_stations_from_csv(SHARED_CSV)
    assert len(converted.stations) == 16
    sources = [s.source for s in converted.stations]
    assert sources.count("QĐ 05/2020/QĐ-TTg") == 8
    assert sources.count("QĐ 632/QĐ-TTg (may predate QĐ 05/2020)") == 8
    assert converted.stations == load_flood_stations(SAMPLE).stations
