"""Data freshness: a sensor that has missed its reporting interval (TT 17/2021/TT-BTNMT monitoring frequencies)."""

from __future__ import annotations

import math
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from hub.alerts.rules.base import require_aware

# TT 17/2021/TT-BTNMT: automatic measurement at least every 15 minutes, online transmission at least hourly,
# periodic parameters at least every 24 hours.
MEASUREMENT_INTERVAL_S = 15 * 60
TRANSMISSION_INTERVAL_S = 60 * 60
PERIODIC_INTERVAL_S = 24 * 60 * 60
# Silence longer than 2.5 intervals: one reading lost in transit is normal, two in a row is worth an alert.
DEFAULT_GRACE_FACTOR = 2.5


class FreshnessPolicy(BaseModel):
    """How long a sensor may stay silent."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    interval_s: float = Field(
        MEASUREMENT_INTERVAL_S,
        gt=0,
        description="Expected interval between readings; a node that uploads in hourly batches needs 3600",
    )
    grace_factor: float = Field(
        DEFAULT_GRACE_FACTOR, ge=1, description="Stale after this many intervals without a reading"
    )


def age_s(last_seen: datetime | None, now: datetime) -> float:
    """Seconds since the last reading; infinity when there never was one; 0 for a reading stamped after now."""
    require_aware(now, "now")
    if last_seen is None:
        return math.inf
    require_aware(last_seen, "last_seen")
    # A device clock a little ahead of the hub's must not read as negative age.
    return max(0.0, (now - last_seen).total_seconds())


def staleness_s(
    last_seen: datetime | None, now: datetime, interval_s: float, grace_factor: float = DEFAULT_GRACE_FACTOR
) -> float:
    """Seconds the sensor is overdue beyond ``interval_s * grace_factor``: 0 while fresh, infinity if never seen."""
    if not interval_s > 0 or not grace_factor >= 1:
        raise ValueError(f"need interval_s > 0 and grace_factor >= 1, not {interval_s}, {grace_factor}")
    return max(0.0, age_s(last_seen, now) - interval_s * grace_factor)


def is_stale(
    last_seen: datetime | None, now: datetime, interval_s: float, grace_factor: float = DEFAULT_GRACE_FACTOR
) -> bool:
    """True once the silence is longer than ``interval_s * grace_factor`` (exactly that long is still fresh)."""
    return staleness_s(last_seen, now, interval_s, grace_factor) > 0
