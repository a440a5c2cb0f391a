"""Completeness per station and local day (UTC+7)."""

from datetime import UTC, date, datetime, timedelta

import pytest

from hub.quality.completeness import expected_readings, local_day, sensor_completeness, station_completeness

# 17:00 UTC is midnight in Hà Nội: local days run 17:00 UTC to 17:00 UTC.
DAY_START = datetime(2025, 10, 13, 17, 0, tzinfo=UTC)


def test_local_day_is_utc_plus_7():
    assert local_day(datetime(2025, 10, 13, 16, 59, tzinfo=UTC)) == date(2025, 10, 13)
    assert local_day(datetime(2025, 10, 13, 17, 0, tzinfo=UTC)) == date(2025, 10, 14)


def test_expected_from_interval_and_cut_short():
    day = date(2025, 10, 14)
    assert expected_readings(900, day) == 96
    assert expected_readings(300, day) == 288
    assert expected_readings(900, day, until=DAY_START + timedelta(hours=6)) == 24
    assert expected_readings(900, day, since=DAY_START + timedelta(hours=18)) == 24
    assert expected_readings(900, date(2025, 10, 20), until=DAY_START) == 0
    with pytest.raises(ValueError):
        expected_readings(0, day)


def test_station_sums_its_sensors_and_counts_repeats_once():
    stage = [("stage", DAY_START + timedelta(minutes=15 * i)) for i in range(96)]
    rain = [("rain", DAY_START + timedelta(minutes=5 * i)) for i in range(0, 288, 2)]  # half of them
    repeats = stage[:10]  # replayed after an outage
    unknown = [("camera", DAY_START)]  # nothing is expected of it
    (day,) = station_completeness(stage + rain + repeats + unknown, {"stage": 900, "rain": 300})
    assert day.day == date(2025, 10, 14)
    assert (day.received, day.expected) == (96 + 144, 96 + 288)
    assert day.ratio == pytest.approx(240 / 384)


def test_days_without_readings_and_fast_sampling():
    days = [date(2025, 10, 14), date(2025, 10, 15)]
    fast = [DAY_START + timedelta(minutes=i) for i in range(1440)]  # in alarm: every minute, not every 15
    first, second = sensor_completeness(fast, 900, days=days)
    assert first.received == 1440 and first.ratio == 1.0
    assert (second.received, second.ratio) == (0, 0.0)


def test_today_is_judged_up_to_now():
    now = DAY_START + timedelta(hours=2)
    readings = [DAY_START + timedelta(minutes=15 * i) for i in range(8)]
    (today,) = sensor_completeness(readings, 900, until=now)
    assert today.expected == 8 and today.ratio == 1.0
