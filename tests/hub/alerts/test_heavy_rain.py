from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from hub.alerts.rules.heavy_rain import (
    RainBands,
    daily_totals,
    duration_class,
    heavy_rain_days,
    heavy_rain_level,
    rain_band,
    rolling_sum,
)

T0 = datetime(2025, 10, 13, 0, 0, tzinfo=UTC)
H = timedelta(hours=1)
BANDS = RainBands()


def test_rolling_sum_window_is_open_at_start_closed_at_end():
    increments = [(T0, 1.0), (T0 + H, 2.0), (T0 + 2 * H, 4.0), (T0 + 3 * H, 8.0)]
    # (T0 + 1h, T0 + 3h]: the readings at 2 h and 3 h -> 4 + 8.
    assert rolling_sum(increments, T0 + 3 * H, 2 * H) == 12.0
    # (T0 - 1h, T0 + 1h]: the readings at 0 and 1 h -> 1 + 2.
    assert rolling_sum(increments, T0 + H, 2 * H) == 3.0
    assert rolling_sum([], T0, H) == 0.0
    with pytest.raises(ValueError, match="positive"):
        rolling_sum(increments, T0, timedelta(0))


@given(
    amounts=st.lists(st.integers(min_value=0, max_value=500), max_size=120),
    cuts=st.lists(st.integers(min_value=1, max_value=47), max_size=6),
)
def test_rolling_sums_over_any_split_of_a_window_add_up(amounts, cuts):
    """Split (end - 48 h, end] at any hours: the parts sum to the whole (no reading counted twice or lost)."""
    # One reading every 24 minutes, the first 24 min after T0 and the 120th at end, so all fall in (T0, end].
    increments = [(T0 + (i + 1) * timedelta(minutes=24), a / 10) for i, a in enumerate(amounts)]
    end = T0 + 48 * H
    edges = sorted({0, 48, *cuts})  # hours back from end
    parts = [rolling_sum(increments, end - a * H, (b - a) * H) for a, b in pairwise(edges)]
    assert sum(parts) == pytest.approx(rolling_sum(increments, end, 48 * H))
    assert rolling_sum(increments, end, 48 * H) == pytest.approx(sum(a / 10 for a in amounts))


def test_daily_totals_oldest_first():
    increments = [(T0 + 1 * H, 10.0), (T0 + 25 * H, 20.0), (T0 + 49 * H, 30.0)]
    assert daily_totals(increments, T0 + 72 * H, 3) == [10.0, 20.0, 30.0]


@pytest.mark.parametrize(
    ("acc_12h", "acc_24h", "band"),
    [
        (0, 0, 0),
        (49.9, 99.9, 0),
        (0, 100, 1),  # "từ 100 mm": 100 is in band 1
        (0, 200, 1),  # 200 is still band 1 ("trên 200 mm" starts band 2)
        (0, 200.1, 2),
        (0, 400, 2),
        (0, 400.1, 3),
        (50, 60, 1),  # 50 mm in 12 h alone makes band 1
        (100.1, 110, 2),  # unverified 12 h band 2 beats the 24 h band 1
    ],
)
def test_rain_band_boundaries(acc_12h, acc_24h, band):
    assert rain_band(acc_12h, acc_24h, BANDS) == band


@pytest.mark.parametrize(("days", "cls"), [(0, 1), (0.5, 1), (1, 1), (2, 1), (2.5, 2), (4, 2), (4.01, 3), (9, 3)])
def test_duration_class(days, cls):
    assert duration_class(days, BANDS) == cls


def test_heavy_rain_level_defaults():
    assert heavy_rain_level(30, 60, 1, BANDS) == 0
    assert heavy_rain_level(60, 150, 1, BANDS) == 1  # the verified level-1 case
    assert heavy_rain_level(60, 150, 3, BANDS) == 2  # band 1 lasting 2-4 days
    assert heavy_rain_level(120, 300, 1, BANDS) == 2  # band 2, 1-2 days
    assert heavy_rain_level(200, 450, 5, BANDS) == 4  # band 3, over 4 days
    with pytest.raises(ValueError, match="days_of_heavy_rain"):
        heavy_rain_level(60, 150, -1, BANDS)
    with pytest.raises(ValueError, match="24 h rain"):
        heavy_rain_level(60, float("nan"), 1, BANDS)


def test_configured_bands_change_the_level():
    plains = RainBands(area="đồng bằng", levels=[[1, 1, 2], [1, 2, 3], [2, 3, 4]])
    assert heavy_rain_level(60, 150, 3, plains) == 1


def test_heavy_rain_days_counts_back_from_the_current_day():
    assert heavy_rain_days([120, 30, 150, 100, 180], BANDS) == 3  # 150, 100, 180 reach 100 mm; 30 breaks the run
    assert heavy_rain_days([120, 99.9], BANDS) == 0
    assert heavy_rain_days([], BANDS) == 0


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"edges_24h_mm": [100, 100, 400]}, "edges_24h_mm must rise strictly"),
        ({"edges_12h_mm": [50, 100]}, "edges_12h_mm needs one value per band"),
        ({"levels": [[1, 2, 3], [2, 3, 4]]}, "levels must be 3 rows"),
        ({"levels": [[1, 2, 3], [2, 3, 4], [3, 4, 6]]}, "risk levels 1-5"),
        ({"levels": [[1, 2, 1], [2, 3, 4], [3, 4, 4]]}, "must not fall as the duration grows"),
        ({"levels": [[1, 2, 3], [1, 1, 4], [3, 4, 4]]}, "must not fall in a higher band"),
        ({"duration_edges_days": [0, 4]}, "duration_edges_days must be positive"),
    ],
)
def test_band_validation_names_the_field(fields, message):
    with pytest.raises(ValidationError, match=message):
        RainBands(**fields)
