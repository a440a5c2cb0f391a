"""Planned spillway releases through the API: the dam rule warns from the procedure's deadline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hub.api.auth import Role
from tests.hub.api.support import RESERVOIR

RELEASE = "/api/reservoirs/reservoir-001/release"
WITH_PLAN = {
    **RESERVOIR,
    "release": {"warning_lead_time": "PT4H", "signal": "còi hú", "procedure": "QĐ vận hành (minh hoạ)"},
}


def test_release_needs_a_plan_in_the_table_and_the_hydrology_role(local_hub):
    opening = datetime(2026, 10, 2, 12, 0, tzinfo=UTC)
    body = {"planned_open": opening.isoformat(), "comment": "lệnh xả số 7"}
    assert local_hub.client(Role.OFFICER).put(RELEASE, body).status == 403
    refused = local_hub.client(Role.HYDROLOGY).put(RELEASE, body)
    assert refused.status == 404 and "no release plan" in refused.body["error"]

    hydro = local_hub.client(Role.HYDROLOGY)
    path = "/api/thresholds/reservoir/reservoir-001"
    assert hydro.put(path, {"reservoir": WITH_PLAN, "comment": "quy trình vận hành"}).status == 200
    accepted = hydro.put(RELEASE, body)
    assert accepted.status == 200 and accepted.body["by"] == "hydrology-1"

    engine = local_hub.engine
    engine.tick(opening - timedelta(hours=4, minutes=1))
    assert not engine.store.alarms(active=True, rule="dam_safety")
    engine.tick(opening - timedelta(hours=4))
    alarms = local_hub.client(Role.VIEWER).get("/api/alerts?rule=dam_safety&active=true").body["alerts"]
    assert [a["subject"] for a in alarms] == ["reservoir-001/release"]
    assert "còi hú" in alarms[0]["message"]
    assert hydro.put(RELEASE, {"planned_open": None, "comment": "huỷ"}).status == 200
    engine.tick(opening - timedelta(hours=3))
    assert not engine.store.alarms(active=True, rule="dam_safety")
