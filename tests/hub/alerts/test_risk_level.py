import math

import pytest
from pydantic import ValidationError

from hub.alerts.rules.flood_levels import FloodStation
from hub.alerts.rules.risk_level import (
    RISK_COLOURS,
    FloodRiskTable,
    RiskTables,
    combine_hazards,
    flood_risk_level,
    risk_colour,
)

TABLE = FloodRiskTable()


def station(zone: int | None, peak: float | None = None) -> FloodStation:
    # BĐ1/2/3 = 9.5/10.5/11.5 m (Hà Nội, Long Biên).
    return FloodStation(
        station_id="s",
        river="Hồng",
        name="Hà Nội (Long Biên)",
        province="Hà Nội",
        bd1_m=9.5,
        bd2_m=10.5,
        bd3_m=11.5,
        source="QĐ 05/2020/QĐ-TTg",
        zone=zone,
        historical_peak_m=peak,
    )


def test_colours_follow_the_decision():
    assert [c.name_en for c in RISK_COLOURS] == ["light blue", "light yellow", "orange", "red", "purple"]
    assert risk_colour(5).hex == "#800080"
    assert all(c.hex.startswith("#") and len(c.hex) == 7 for c in RISK_COLOURS)
    with pytest.raises(ValueError):
        risk_colour(0)


@pytest.mark.parametrize(
    ("zone", "stage", "risk"),
    [
        (1, 9.4, 0),  # below BĐ1
        (1, 9.5, 1),  # BĐ1
        (1, 11.0, 1),  # zone 1: BĐ2-BĐ3 is still level 1
        (1, 11.5, 2),  # BĐ3
        (1, 12.49, 2),  # below BĐ3 + 1.0 m = 12.5
        (1, 12.5, 3),
        (2, 10.5, 2),  # zone 2: BĐ2 -> 2
        (3, 11.5, 3),
        (4, 9.5, 2),  # zone 4: BĐ1 -> 2
        (4, 10.5, 3),
        (4, 11.79, 3),  # below BĐ3 + 0.3 m = 11.8
        (4, 11.8, 4),
    ],
)
def test_flood_risk_by_zone(zone, stage, risk):
    assert flood_risk_level(stage, station(zone), TABLE) == risk


def test_above_historical_flood_is_level_5_in_any_zone():
    assert flood_risk_level(14.2, station(1, peak=14.13), TABLE) == 5
    assert flood_risk_level(14.13, station(1, peak=14.13), TABLE) == 3  # equal is not above
    assert flood_risk_level(14.2, station(None, peak=14.13), TABLE) == 5


def test_station_without_zone_needs_a_default():
    assert flood_risk_level(10.5, station(None), TABLE) is None
    assert flood_risk_level(10.5, station(None), FloodRiskTable(default_zone=4)) == 3
    with pytest.raises(ValueError, match="finite"):
        flood_risk_level(math.nan, station(1), TABLE)


def test_flood_risk_table_validation():
    with pytest.raises(ValidationError, match="zones are 1-4"):
        FloodRiskTable(zones={5: [{"bd": 1, "risk": 1}]})
    with pytest.raises(ValidationError, match="default_zone 2 has no steps"):
        FloodRiskTable(zones={1: [{"bd": 1, "risk": 1}]}, default_zone=2)
    with pytest.raises(ValidationError, match="bd"):
        FloodRiskTable(zones={1: [{"bd": 4, "risk": 1}]})
    assert RiskTables().escalation == 1


def test_combine_hazards():
    assert combine_hazards({}) == 0
    assert combine_hazards({"flood": 3}) == 3  # one hazard: no escalation
    assert combine_hazards({"flood": 3, "heavy_rain": 0}) == 3  # the second is not occurring
    assert combine_hazards({"flood": 3, "heavy_rain": 1}) == 4  # max 3, +1
    assert combine_hazards({"flood": 3, "heavy_rain": 2}, escalation=2) == 5  # max 3, +2
    assert combine_hazards({"flood": 4, "heavy_rain": 4, "landslide": 2}, escalation=2) == 5  # capped
    assert combine_hazards({"flood": 2, "heavy_rain": 2}, escalation=0) == 2
    with pytest.raises(ValueError, match="escalation"):
        combine_hazards({"flood": 1}, escalation=3)
    with pytest.raises(ValueError, match="0-5"):
        combine_hazards({"flood": 6})
