"""The plausible range of a water level on a station's or reservoir's own datum, shared by every rule table.

An alarm level outside it is a typing slip, not a threshold: 1e306 m would pass the "BĐ1 < BĐ2 < BĐ3" checks and
silently switch a station's alarms off. Vietnamese gauges read from a few metres below mean sea level (tidal
stations) to about 1,000 m (highland reservoirs such as Đa Nhim, normal level 1,042 m), so the bounds leave room
on both sides without letting an absurd number in.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

LEVEL_MIN_M = -100.0
LEVEL_MAX_M = 3000.0
# The widest BĐ1-BĐ3 span allowed: the reference table's widest is 3.5 m, mountain rivers reach about 10 m.
MAX_ALARM_SPAN_M = 50.0

LevelM = Annotated[float, Field(ge=LEVEL_MIN_M, le=LEVEL_MAX_M)]
