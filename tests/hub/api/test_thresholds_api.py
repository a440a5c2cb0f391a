"""Thresholds through the API: read, change with an audit trail and immediate effect, refuse bad values, reload."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hub.alerts.threshold_overrides import RuleManager, ThresholdStore
from hub.api.auth import Role
from tests.hub.api.support import RESERVOIR, STATION, LocalHub

T0 = datetime(2026, 10, 1, 3, 0, tzinfo=UTC)
FLOOD = "/api/thresholds/flood/hong-long-bien"


def flood_alarms(hub: LocalHub) -> list[dict]:
    return hub.client(Role.VIEWER).get("/api/alerts?rule=flood_level&active=true").body["alerts"]


def change(station: dict, comment: str = "QĐ mới của UBND tỉnh", **extra) -> dict:
    return {"station": station, "comment": comment, **extra}


def test_all_tables_are_readable(local_hub):
    body = local_hub.client(Role.VIEWER).get("/api/thresholds").body
    assert body["flood"]["stations"][0]["name"] == "Hà Nội (Long Biên)"
    assert body["reservoirs"]["reservoirs"][0]["reservoir_id"] == "reservoir-001"
    assert body["rain"]["edges_24h_mm"] == [100.0, 200.0, 400.0]
    assert body["nesterov"] == {} and body["overrides"] == [] and body["problems"] == []
    assert "zones" in body["risk"]["flood"] and "labels" in body["camera"]


def test_lowering_bd1_raises_an_alarm_on_the_next_reading_and_is_audited(local_hub):
    local_hub.stage(9.2, T0)
    assert flood_alarms(local_hub) == []
    lowered = {**STATION, "bd1_m": 9.0}
    assert local_hub.client(Role.OFFICER).put(FLOOD, change(lowered)).status == 403

    reply = local_hub.client(Role.HYDROLOGY).put(FLOOD, change(lowered, expected_version=0))
    assert reply.status == 200, reply.body
    assert reply.body["item"]["bd1_m"] == 9.0 and reply.body["file_item"]["bd1_m"] == 9.5
    assert (reply.body["overridden"], reply.body["version"], reply.body["updated_by"]) == (True, 1, "hydrology-1")

    local_hub.stage(9.25, T0 + timedelta(minutes=15))  # no restart, no reload
    [alarm] = flood_alarms(local_hub)
    assert alarm["level"] == 1 and alarm["details"]["bd_m"] == [9.0, 10.5, 11.5]

    [entry] = local_hub.client(Role.VIEWER).get("/api/thresholds/audit").body["entries"]
    assert (entry["who"], entry["action"], entry["kind"], entry["item_id"]) == (
        "hydrology-1",
        "change",
        "flood",
        "hong-long-bien",
    )
    assert entry["before"]["bd1_m"] == 9.5 and entry["after"]["bd1_m"] == 9.0
    assert entry["comment"] == "QĐ mới của UBND tỉnh"
    overrides = local_hub.client(Role.VIEWER).get("/api/thresholds").body["overrides"]
    assert [(o["kind"], o["item_id"], o["version"]) for o in overrides] == [("flood", "hong-long-bien", 1)]


def test_a_bad_value_answers_422_with_field_and_reason_and_changes_nothing(local_hub):
    hydro = local_hub.client(Role.HYDROLOGY)
    cases = [
        ({**STATION, "bd1_m": "chín"}, "station.bd1_m", "valid number"),
        ({**STATION, "bd1_m": 11.0}, "station", "bd1_m (11.0) must be below bd2_m (10.5)"),
        ({**STATION, "hysteresis_m": -1}, "station.hysteresis_m", "greater than or equal to 0"),
        ({**STATION, "colour": "red"}, "station.colour", "Extra inputs are not permitted"),
        ({k: v for k, v in STATION.items() if k != "source"}, "station.source", "Field required"),
        # Absurd levels pass "BĐ1 < BĐ2 < BĐ3" and would switch the station's alarms off.
        ({**STATION, "bd1_m": 1e306, "bd2_m": 1e307, "bd3_m": 1e308}, "station.bd1_m", "less than or equal to 3000"),
        ({**STATION, "bd3_m": 95.0}, "station", "more than 50 m between BĐ1 and BĐ3"),
    ]
    for station, field, reason in cases:
        reply = hydro.put(FLOOD, change(station))
        assert reply.status == 422, station
        problem = reply.body["problems"][0]  # the absurd levels name all three
        assert problem["field"] == field and reason in problem["reason"], problem
    assert hydro.put(FLOOD, {"station": STATION}).body["problems"][0]["field"] == "comment"
    assert hydro.call("PUT", FLOOD, raw=b"{not json").status == 422
    mismatch = hydro.put(FLOOD, change({**STATION, "station_id": "hong-son-tay"}))
    assert mismatch.status == 422 and mismatch.body["problems"][0]["field"] == "station.station_id"

    now = hydro.get(FLOOD).body
    assert (now["overridden"], now["version"], now["item"]["bd1_m"]) == (False, 0, 9.5)
    assert hydro.get("/api/thresholds/audit").body["entries"] == []
    assert local_hub.engine is not None and local_hub.engine.tables.flood is not None
    assert local_hub.engine.tables.flood.stations[0].bd1_m == 9.5


def test_stale_version_is_409_and_unknown_station_404(local_hub):
    hydro = local_hub.client(Role.HYDROLOGY)
    assert hydro.put(FLOOD, change({**STATION, "bd1_m": 9.1})).status == 200
    stale = hydro.put(FLOOD, change({**STATION, "bd1_m": 9.2}, expected_version=0))
    assert stale.status == 409 and "version 1" in stale.body["error"]
    assert hydro.get(FLOOD).body["item"]["bd1_m"] == 9.1
    other = {**STATION, "station_id": "hong-son-tay"}
    assert hydro.put("/api/thresholds/flood/hong-son-tay", change(other)).status == 404
    assert hydro.get("/api/thresholds/flood/hong-son-tay").status == 404


def test_revert_brings_back_the_file_value_and_is_audited(local_hub):
    hydro = local_hub.client(Role.HYDROLOGY)
    assert hydro.post(FLOOD + "/revert", {"comment": "nothing to revert"}).status == 404
    hydro.put(FLOOD, change({**STATION, "bd1_m": 9.0}))
    reply = hydro.post(FLOOD + "/revert", {"comment": "về giá trị trong tệp", "expected_version": 1})
    assert reply.status == 200
    assert (reply.body["overridden"], reply.body["version"], reply.body["item"]["bd1_m"]) == (False, 2, 9.5)
    entries = hydro.get("/api/thresholds/audit?kind=flood&item_id=hong-long-bien").body["entries"]
    assert [(e["action"], e["before"]["bd1_m"], e["after"]["bd1_m"]) for e in entries] == [
        ("revert", 9.0, 9.5),
        ("change", 9.5, 9.0),
    ]
    local_hub.stage(9.2, T0)
    assert flood_alarms(local_hub) == []


def test_reservoir_levels_change_and_are_validated_the_same_way(local_hub):
    path = "/api/thresholds/reservoir/reservoir-001"
    hydro = local_hub.client(Role.HYDROLOGY)
    raised = {**RESERVOIR, "normal_level_m": 33.0}
    reply = hydro.put(path, {"reservoir": raised, "comment": "quy trình vận hành 2026"})
    assert reply.status == 200 and reply.body["item"]["normal_level_m"] == 33.0
    bad = hydro.put(path, {"reservoir": {**RESERVOIR, "pre_flood_level_m": 40.0}, "comment": "x"})
    assert bad.status == 422 and "must be at or above pre_flood_level_m" in bad.body["problems"][0]["reason"]
    assert local_hub.engine is not None and local_hub.engine.tables.reservoirs is not None
    assert local_hub.engine.tables.reservoirs.reservoirs[0].normal_level_m == 33.0


def test_overrides_survive_a_restart_and_a_reload(local_hub):
    local_hub.client(Role.HYDROLOGY).put(FLOOD, change({**STATION, "bd1_m": 9.0}))
    assert local_hub.rules is not None
    # A restart: a fresh manager over the same database applies the stored override before the engine starts.
    fresh = RuleManager(local_hub.rules._read_files, ThresholdStore(local_hub.dir / "data" / "alerts.db"))
    assert fresh.current.flood is not None and fresh.current.flood.stations[0].bd1_m == 9.0
    fresh.store.close()
    reply = local_hub.client(Role.ADMIN).post("/api/rules/reload", {"comment": "tệp mới"})
    assert reply.status == 200 and reply.body["flood_stations"] == 1
    assert local_hub.client(Role.VIEWER).get(FLOOD).body["item"]["bd1_m"] == 9.0
    [reload, _] = local_hub.client(Role.VIEWER).get("/api/thresholds/audit").body["entries"]
    assert (reload["action"], reload["who"], reload["comment"]) == ("reload", "admin-1", "tệp mới")


def test_reload_with_a_broken_file_answers_422_naming_file_line_field_and_keeps_the_rules(local_hub):
    flood_file = local_hub.dir / "rules" / "flood.yaml"
    good = flood_file.read_text("utf-8")
    local_hub.stage(9.7, T0)
    assert [a["level"] for a in flood_alarms(local_hub)] == [1]
    assert local_hub.client(Role.HYDROLOGY).post("/api/rules/reload").status == 403

    flood_file.write_text(good.replace("bd2_m: 10.5", "bd2_m: mười"), "utf-8")
    reply = local_hub.client(Role.ADMIN).post("/api/rules/reload")
    assert reply.status == 422
    assert reply.body["file"] == str(flood_file)
    [problem] = reply.body["problems"]
    line = next(i for i, text in enumerate(flood_file.read_text("utf-8").splitlines(), 1) if "bd2_m" in text)
    assert (problem["line"], problem["field"]) == (line, "stations.0.bd2_m")
    assert "valid number" in problem["reason"]

    flood_file.write_text("stations: [", "utf-8")  # not even YAML
    assert local_hub.client(Role.ADMIN).post("/api/rules/reload").body["problems"][0]["reason"].startswith("not valid")

    # The running rules still work: the stage rises past BĐ2 of the old table.
    local_hub.stage(10.6, T0 + timedelta(minutes=15))
    assert [a["level"] for a in flood_alarms(local_hub)] == [2]
    assert local_hub.client(Role.VIEWER).get("/api/thresholds/audit").body["entries"] == []

    flood_file.write_text(good.replace("bd3_m: 11.5", "bd3_m: 11.2"), "utf-8")
    assert local_hub.client(Role.ADMIN).post("/api/rules/reload").status == 200
    assert local_hub.client(Role.VIEWER).get(FLOOD).body["item"]["bd3_m"] == 11.2


def test_an_override_whose_station_left_the_files_is_reported_not_applied(local_hub):
    local_hub.client(Role.HYDROLOGY).put(FLOOD, change({**STATION, "bd1_m": 9.0}))
    flood_file = local_hub.dir / "rules" / "flood.yaml"
    flood_file.write_text(flood_file.read_text("utf-8").replace("hong-long-bien", "hong-son-tay"), "utf-8")
    reply = local_hub.client(Role.ADMIN).post("/api/rules/reload")
    assert reply.status == 200
    assert reply.body["problems"] == ["flood/hong-long-bien: not in the rule files any more; override not applied"]
    body = local_hub.client(Role.VIEWER).get("/api/thresholds").body
    assert body["problems"] == reply.body["problems"]
    assert [s["station_id"] for s in body["flood"]["stations"]] == ["hong-son-tay"]
