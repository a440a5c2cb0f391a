"""The operator API of a real hub process, fed through a real broker by an edge agent: thresholds change the
running engine without a restart, survive one, and a broken rule file leaves the running rules alone."""

from __future__ import annotations

from datetime import timedelta

import yaml

from hub.api.auth import Role
from tests.conftest import T0
from tests.hub.api.support import STATION, Client, api_section, write_rules
from tests.support.influx import query
from tests.support.wait import wait_until
from wire import Reading

FLOOD = "/api/thresholds/flood/hong-long-bien"


def stage(node, hours: int, value: float) -> None:
    reading = Reading(sensor_id="stage", quantity="water_level", value=value, unit="m", ts=T0 + timedelta(hours=hours))
    node.call(lambda a: a.record([reading]))


def evaluated(influx, n: int) -> bool:
    """The engine has evaluated ``n`` readings of the station (it writes one flood_level point per reading)."""
    rows = query(influx.url, "iocgw", "SELECT level FROM flood_level WHERE station_id = 'hong-long-bien'")
    return len(rows) >= n


def flood_alarms(api: Client) -> list[dict]:
    return api.as_(Role.VIEWER).get("/api/alerts?rule=flood_level&active=true").body["alerts"]


def start(tmp_path, make_hub):
    hub = make_hub(alerts=write_rules(tmp_path / "rules"), api=api_section())
    return hub, Client(f"http://127.0.0.1:{hub.http_port}")


def test_lowered_bd1_alarms_on_the_next_reading_without_a_restart_and_survives_one(
    tmp_path, make_hub, make_node, influx
):
    hub, api = start(tmp_path, make_hub)
    node = make_node("river-longbien-01")
    stage(node, 0, 9.2)
    wait_until(lambda: evaluated(influx, 1), what="first reading evaluated")
    assert flood_alarms(api) == []

    pid = hub.pid
    reply = api.as_(Role.HYDROLOGY).put(FLOOD, {"station": {**STATION, "bd1_m": 9.0}, "comment": "thử nghiệm"})
    assert reply.status == 200, reply.body
    stage(node, 1, 9.3)
    [alarm] = wait_until(lambda: flood_alarms(api), what="flood alarm at the lowered BĐ1")
    assert alarm["level"] == 1 and alarm["details"]["bd_m"] == [9.0, 10.5, 11.5]
    assert hub.pid == pid, "applied without a restart"

    ack = api.as_(Role.OFFICER).post(f"/api/alerts/{alarm['id']}/ack", {"comment": "đã báo UBND phường"})
    assert (ack.status, ack.body["state"], ack.body["acked_by"]) == (200, "ACTIVE_ACK", "officer-1")
    [entry] = api.as_(Role.VIEWER).get("/api/thresholds/audit").body["entries"]
    assert (entry["who"], entry["before"]["bd1_m"], entry["after"]["bd1_m"]) == ("hydrology-1", 9.5, 9.0)

    # A restart applies the stored override before the engine sees anything.
    hub.kill()
    hub.start()
    assert api.as_(Role.VIEWER).get(FLOOD).body["item"]["bd1_m"] == 9.0
    stage(node, 2, 9.4)
    stage(node, 3, 9.05)  # still above the lowered BĐ1 less hysteresis: the alarm stays
    wait_until(lambda: evaluated(influx, 4), what="readings after the restart evaluated")
    [still] = flood_alarms(api)
    assert still["id"] == alarm["id"] and still["state"] == "ACTIVE_ACK"


def test_reload_with_a_broken_file_answers_422_and_the_running_rules_go_on(tmp_path, make_hub, make_node):
    _, api = start(tmp_path, make_hub)
    node = make_node("river-longbien-01")
    flood_file = tmp_path / "rules" / "flood.yaml"
    table = yaml.safe_load(flood_file.read_text("utf-8"))
    table["stations"][0]["bd3_m"] = 10.0  # below BĐ2
    flood_file.write_text(yaml.safe_dump(table, allow_unicode=True), "utf-8")

    assert api.as_(Role.HYDROLOGY).post("/api/rules/reload").status == 403
    reply = api.as_(Role.ADMIN).post("/api/rules/reload", {"comment": "tệp mới"})
    assert reply.status == 422
    assert reply.body["file"] == str(flood_file)
    [problem] = reply.body["problems"]
    first_station = next(i for i, text in enumerate(flood_file.read_text("utf-8").splitlines(), 1) if "- " in text)
    assert problem["line"] == first_station and problem["field"] == "stations.0"
    assert "bd2_m (10.5) must be below bd3_m (10.0)" in problem["reason"]

    stage(node, 0, 10.6)  # BĐ2 of the table still running
    [alarm] = wait_until(lambda: flood_alarms(api), what="flood alarm from the running rules")
    assert alarm["level"] == 2
    assert Client(api.base).get("/api/alerts").status == 401
    assert Client(api.base).get("/healthz").status == 200
