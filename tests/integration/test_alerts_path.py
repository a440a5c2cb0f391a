"""Alerts through the real path: node -> Mosquitto -> hub process (engine) -> SQLite alarms, InfluxDB, API."""

from __future__ import annotations

import json
import urllib.request
from datetime import timedelta

import yaml

from tests.conftest import T0
from tests.support.influx import query
from tests.support.wait import wait_until
from wire import Reading

HYDROGRAPH = [8.0, 9.0, 9.6, 10.2, 10.8, 11.3, 11.9, 11.6, 11.2, 10.4, 9.9, 9.47, 9.3, 8.5]


def stage_readings(i: int) -> list[Reading]:
    return [
        Reading(sensor_id="stage", quantity="water_level", value=HYDROGRAPH[i], unit="m", ts=T0 + timedelta(hours=i))
    ]


def flood_config(tmp_path) -> dict:
    table = tmp_path / "flood.yaml"
    table.write_text(
        yaml.safe_dump(
            {
                "stations": [
                    {
                        "station_id": "hong-long-bien",
                        "node_id": "river-longbien-01",
                        "sensor_id": "stage",
                        "river": "Hồng",
                        "name": "Hà Nội (Long Biên)",
                        "province": "Hà Nội",
                        "bd1_m": 9.5,
                        "bd2_m": 10.5,
                        "bd3_m": 11.5,
                        "source": "QĐ 05/2020/QĐ-TTg",
                    }
                ]
            },
            allow_unicode=True,
        )
    )
    return {"flood_stations": str(table), "freshness": {"enabled": False}}


def alerts(hub) -> list[dict]:
    return hub.get_json("/api/alerts?rule=flood_level")["alerts"]


def test_flood_scenario_through_the_hub_with_a_kill_in_the_middle(tmp_path, make_hub, make_node, influx):
    hub = make_hub(alerts=flood_config(tmp_path))
    node = make_node("river-longbien-01")
    for i in range(5):  # up to 10.8 m: BĐ2
        node.call(lambda a, i=i: a.record(stage_readings(i)))
    wait_until(lambda: [a for a in alerts(hub) if a["level"] == 2], what="BĐ2 alarm")
    hub.kill()
    for i in range(5, len(HYDROGRAPH)):
        node.call(lambda a, i=i: a.record(stage_readings(i)))
    hub.start()
    wait_until(lambda: [a for a in alerts(hub) if a["state"] == "CLEARED_UNACK"], timeout=60, what="alarm cleared")
    items = alerts(hub)
    assert len(items) == 1, "one alarm per rule and subject, never duplicated"
    alarm = items[0]
    assert alarm["level"] == 1 and alarm["subject"] == "hong-long-bien"
    rows = query(influx.url, "iocgw", "SELECT transition, level FROM alarm WHERE rule = 'flood_level'")
    assert [(r["transition"], r["level"]) for r in rows if r["transition"] != "updated"] == [
        ("created", 1),
        ("escalated", 2),
        ("escalated", 3),
        ("deescalated", 2),
        ("deescalated", 1),
        ("cleared", 1),
    ]
    levels = query(influx.url, "iocgw", "SELECT level FROM flood_level WHERE station_id = 'hong-long-bien'")
    assert max(r["level"] for r in levels) == 3 and len(levels) == len(HYDROGRAPH)

    req = urllib.request.Request(
        f"http://127.0.0.1:{hub.http_port}/api/alerts/{alarm['id']}/ack",
        data=json.dumps({"by": "officer-1", "comment": "đã xử lý"}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        acked = json.loads(resp.read())
    assert acked["state"] == "CLEARED_ACK" and acked["acked_by"] == "officer-1"
