"""Quality control and completeness in a running hub: flags stored (and revised) in InfluxDB, a day's completeness
counted from what was stored, and the data_quality alarm raised for it, through real Mosquitto, hub and InfluxDB."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from paho.mqtt import publish as mqtt_publish

from hub.node_seed import node_info
from hub.quality.completeness import day_bounds, local_day
from tests.support.influx import query
from tests.support.wait import wait_until
from wire.nodeconfig import load_node_config

NODE, SENSOR = "hn-longbien-01", "wl1"  # the example node config: water level every 300 s
EXAMPLE = Path(__file__).parents[2] / "firmware_configs" / "examples" / "river-station-longbien.yaml"


def test_flags_completeness_and_the_data_quality_alarm(tmp_path, make_hub, mosquitto, influx):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    shutil.copy(EXAMPLE, seeds / "node.yaml")
    quality = tmp_path / "quality.yaml"
    # Judged on yesterday until local noon, on today after: either way every sensor is short, at any hour.
    quality.write_text("completeness:\n  min_ratio: 0.8\n  min_hours_into_day: 12\n  every_s: 1\n")
    make_hub(
        registry={"seed_files": [str(seeds / "*.yaml")], "accept_unknown_nodes": False},
        quality={"file": str(quality)},
        alerts={"freshness": {"enabled": False}},
    )
    # Two hours of yesterday (local time) every 5 minutes: 24 of the day's 288 readings, one spike, one jump.
    yesterday = local_day(datetime.now(UTC)) - timedelta(days=1)
    start = day_bounds(yesterday)[0] + timedelta(hours=8)
    values = [5.0 + 0.01 * (i % 2) for i in range(24)]
    values[10] = 5.4  # out of line with both neighbours: a spike, flagged bad by the next reading
    values[20] = 9.0  # 4 m in 5 minutes and back: suspect at once (rate of change), then bad (spike)
    values[23] = 9.0  # the same jump last: suspect, with no next reading to judge it further
    for seq, value in enumerate(values, 1):
        ts = start + timedelta(minutes=5 * (seq - 1))
        reading = {"sensor_id": SENSOR, "quantity": "water_level", "value": value, "unit": "m"}
        body = {"v": 1, "node_id": NODE, "seq": seq, "ts": ts.isoformat(), "readings": [reading]}
        mqtt_publish.single(
            f"iocgw/v1/{NODE}/telemetry", json.dumps(body), qos=1, hostname="127.0.0.1", port=mosquitto.port
        )

    def stored() -> list[dict]:
        sql = f"SELECT \"value\", quality, qc FROM water_level WHERE node_id = '{NODE}'"
        return query(influx.url, "iocgw", sql)

    wait_until(lambda: len(stored()) == 24 and stored()[10]["quality"] == "bad", what="24 readings, the spike revised")
    rows = stored()
    flagged = {i: (r["value"], r["quality"], r["qc"]) for i, r in enumerate(rows) if r["quality"] != "good"}
    assert flagged == {10: (5.4, "bad", "spike"), 20: (9.0, "bad", "spike"), 23: (9.0, "suspect", "rate_of_change")}
    assert all(r["qc"] is None for i, r in enumerate(rows) if i not in flagged)

    def completeness() -> list[dict]:
        sql = f"SELECT received, expected, ratio FROM completeness WHERE node_id = '{NODE}' AND sensor_id = '{SENSOR}'"
        return query(influx.url, "iocgw", sql)

    since = day_bounds(yesterday)[0]
    wait_until(
        lambda: any(r["time"] == int(since.timestamp() * 1000) and r["received"] == 24 for r in completeness()),
        what="yesterday's completeness stored",
    )
    row = next(r for r in completeness() if r["time"] == int(since.timestamp() * 1000))
    assert (row["received"], row["expected"]) == (24, 288)

    def alarms() -> list[dict]:
        return query(
            influx.url, "iocgw", "SELECT subject, transition, severity FROM alarm WHERE \"rule\" = 'data_quality'"
        )

    wait_until(lambda: any(a["transition"] == "created" for a in alarms()), what="a data_quality alarm")
    # Every sensor of the node is short (the others sent nothing at all); none is a flood alarm.
    sensors = {sid for sid, _q, _i in node_info(load_node_config(EXAMPLE)).sensors}
    wait_until(lambda: {a["subject"] for a in alarms()} == {f"{NODE}/{sid}" for sid in sensors}, what="one per sensor")
    floods = query(influx.url, "iocgw", "SELECT * FROM alarm WHERE \"rule\" = 'flood_level'")
    assert floods == []
