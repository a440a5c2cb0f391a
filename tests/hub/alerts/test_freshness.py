import math
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from hub.alerts.rules.freshness import MEASUREMENT_INTERVAL_S, FreshnessPolicy, age_s, is_stale, staleness_s

NOW = datetime(2025, 10, 14, 6, 0, tzinfo=UTC)


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def test_fifteen_minute_sensor_goes_stale_after_two_and_a_half_intervals():
    # 900 s * 2.5 = 2250 s of silence is allowed.
    assert MEASUREMENT_INTERVAL_S == 900
    assert not is_stale(ago(2249), NOW, 900)
    assert not is_stale(ago(2250), NOW, 900)  # exactly the allowance is still fresh
    assert is_stale(ago(2251), NOW, 900)
    assert staleness_s(ago(2251), NOW, 900) == pytest.approx(1.0)
    assert staleness_s(ago(100), NOW, 900) == 0.0
    assert staleness_s(ago(3600), NOW, 900, grace_factor=1.0) == pytest.approx(2700.0)


def test_never_seen_and_clock_ahead():
    assert is_stale(None, NOW, 900)
    assert staleness_s(None, NOW, 900) == math.inf
    assert age_s(NOW + timedelta(seconds=30), NOW) == 0.0  # device clock ahead of the hub's
    assert not is_stale(NOW + timedelta(seconds=30), NOW, 900)


def test_bad_arguments():
    with pytest.raises(ValueError, match="timezone-aware"):
        is_stale(datetime(2025, 10, 14, 5, 0), NOW, 900)
    with pytest.raises(ValueError, match="interval_s"):
        is_stale(ago(1), NOW, 0)
    with pytest.raises(ValidationError, match="grace_factor"):
        FreshnessPolicy(grace_factor=0.5)
    assert FreshnessPolicy().interval_s == 900
