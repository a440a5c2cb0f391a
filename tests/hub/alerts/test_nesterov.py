from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import ValidationError

from hub.alerts.rules.nesterov import (
    MAGNUS_A_HPA,
    FireDangerBands,
    NesterovConfig,
    NesterovState,
    daily_term,
    fire_danger_level,
    level_name,
    reading_at_local_13,
    saturation_deficit_hpa,
    saturation_vapour_pressure_hpa,
    step,
)

CONFIG = NesterovConfig(province="Hà Tĩnh")
BANDS = FireDangerBands()
# t13 = 30 °C, RH13 = 50 %:
#   e_s = 6.1078 * 10 ** (7.5 * 30 / (30 + 237.3)) = 6.1078 * 10 ** 0.841751 = 6.1078 * 6.946257 = 42.42635 hPa
#   d13 = 42.42635 * (1 - 50 / 100) = 21.21317 hPa
#   term = 30 * 21.21317 = 636.395
TERM_30_50 = 636.395


def test_magnus_tetens_hand_values():
    assert saturation_vapour_pressure_hpa(0) == pytest.approx(MAGNUS_A_HPA)  # 10 ** 0 = 1
    assert saturation_vapour_pressure_hpa(30) == pytest.approx(42.42635, abs=1e-4)
    assert saturation_deficit_hpa(30, 50) == pytest.approx(21.21317, abs=1e-4)
    assert daily_term(30, 50) == pytest.approx(TERM_30_50, abs=1e-3)


def test_deficit_edges():
    assert saturation_deficit_hpa(25, 100) == 0.0
    assert saturation_deficit_hpa(25, 103) == 0.0  # fogged sensor over 100 %: no deficit, not a negative one
    assert saturation_deficit_hpa(25, 0) == pytest.approx(saturation_vapour_pressure_hpa(25))
    assert daily_term(-2, 40) == 0.0  # below 0 °C a day adds nothing
    with pytest.raises(ValueError, match="finite"):
        saturation_deficit_hpa(float("nan"), 50)


def test_dry_week_accumulates_then_maps_to_level_iii():
    state = NesterovState()
    day = date(2025, 4, 1)
    for i in range(7):
        state = step(state, day + timedelta(days=i), 30, 50, 0.0, CONFIG)
        if i == 1:
            # Two dry days: 2 * 636.395 = 1272.79 -> level II (1,001-2,500).
            assert state.p == pytest.approx(2 * TERM_30_50, abs=1e-2)
            assert fire_danger_level(state.p, BANDS) == 2
    # Seven dry days: 7 * 636.395 = 4454.77 -> level III (2,501-5,000).
    assert state.p == pytest.approx(7 * TERM_30_50, abs=1e-2)
    assert state.last_day == date(2025, 4, 7)
    assert fire_danger_level(state.p, BANDS) == 3


def test_rain_resets_to_zero_without_the_rainy_days_term():
    state = NesterovState(p=4454.77, last_day=date(2025, 4, 7))
    state = step(state, date(2025, 4, 8), 30, 50, 5.0, CONFIG)  # exactly the 5 mm threshold resets
    assert state == NesterovState(p=0.0, last_day=date(2025, 4, 8))
    state = step(state, date(2025, 4, 9), 30, 50, 4.9, CONFIG)  # 4.9 mm does not: the day's term is added
    assert state.p == pytest.approx(TERM_30_50, abs=1e-3)
    assert fire_danger_level(state.p, BANDS) == 1


def test_province_rain_threshold_is_configurable():
    seven_mm = NesterovConfig(province="X", rain_reset_mm=7.0)
    state = step(NesterovState(p=3000.0), date(2025, 4, 1), 30, 50, 6.0, seven_mm)
    assert state.p > 3000.0


def test_days_must_come_in_order():
    state = step(NesterovState(), date(2025, 4, 1), 30, 50, 0.0, CONFIG)
    with pytest.raises(ValueError, match="not after"):
        step(state, date(2025, 4, 1), 30, 50, 0.0, CONFIG)
    with pytest.raises(ValueError, match="rain"):
        step(state, date(2025, 4, 2), 30, 50, -1.0, CONFIG)


@pytest.mark.parametrize(
    ("p", "level"),
    [
        (0, 1),
        (999.9, 1),
        (1000, 1),  # I is "< 1,000" and II starts at 1,001: 1,000 itself goes to the lower band
        (1000.5, 2),
        (1001, 2),
        (2500, 2),
        (2501, 3),
        (5000, 3),
        (5001, 4),
        (10000, 4),
        (10000.01, 5),
        (25000, 5),
    ],
)
def test_fire_danger_boundaries(p, level):
    assert fire_danger_level(p, BANDS) == level


def test_fire_danger_bands_per_province_and_names():
    custom = FireDangerBands(upper_bounds=(800, 2000, 4000, 8000))
    assert fire_danger_level(900, custom) == 2
    assert [level_name(i) for i in range(1, 6)] == ["I", "II", "III", "IV", "V"]
    with pytest.raises(ValidationError, match="upper_bounds"):
        FireDangerBands(upper_bounds=(1000, 900, 5000, 10000))
    with pytest.raises(ValueError, match="negative"):
        fire_danger_level(-1, BANDS)


def test_reading_at_local_13_picks_the_nearest_within_tolerance():
    day = date(2025, 4, 10)  # 13:00 in Hà Nội (UTC+7) is 06:00 UTC
    at = datetime(2025, 4, 10, 6, 0, tzinfo=UTC)
    samples = [(at - timedelta(minutes=20), 31.0), (at + timedelta(minutes=5), 32.0), (at + timedelta(hours=2), 35.0)]
    assert reading_at_local_13(samples, day) == (at + timedelta(minutes=5), 32.0)
    # Two samples 10 min either side: the earlier wins whatever the order.
    tie = [(at + timedelta(minutes=10), "after"), (at - timedelta(minutes=10), "before")]
    assert reading_at_local_13(tie, day) == (at - timedelta(minutes=10), "before")
    # Nothing within 30 minutes; the day before's 13:00 is not this day's.
    assert reading_at_local_13([(at - timedelta(minutes=45), 30.0)], day) is None
    assert reading_at_local_13([(at - timedelta(days=1), 30.0)], day) is None
    assert reading_at_local_13([(at - timedelta(minutes=45), 30.0)], day, tolerance=timedelta(hours=1)) is not None
    with pytest.raises(ValueError, match="timezone-aware"):
        reading_at_local_13([(datetime(2025, 4, 10, 13, 0), 30.0)], day)
