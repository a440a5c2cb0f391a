"""Cluster mode (``alerts.cluster``) with real processes: two hubs on one shared subscription, one PostgreSQL, one
webhook receiver. One alarm, each transition notified once, also across the leader SIGKILLed mid-scenario
(docs/scaling.md, "Cluster mode"; issue 17)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import psycopg

from hub.api.auth import Role
from tests.hub.api.support import TOKENS, api_section
from tests.integration.test_alerts_path import HYDROGRAPH, WebhookReceiver, flood_config, stage_readings
from tests.support.influx import query
from tests.support.wait import wait_until

# What one hub notifies for HYDROGRAPH (tests/integration/test_alerts_path.py, the webhook test).
SINGLE_HUB = [("created", 1), ("escalated", 2), ("escalated", 3), ("cleared", 0)]
TAKEOVER_BOUND_S = 10.0  # issue 17


def alerts(hub) -> list[dict]:
    return hub.get_json("/api/alerts?rule=flood_level", token=TOKENS[Role.VIEWER])["alerts"]


def leading(hub) -> bool:
    """The hub's alert source is subscribed: it leads and its feed is live."""
    return hub.log.exists() and "alert source iocgw-alerts subscribed" in hub.log.read_text(errors="replace")


def send_json(hub, method: str, path: str, body: dict, role: Role) -> tuple[int, dict]:
    """A change through a hub's API: (status, JSON answer), an error status included."""
    req = urllib.request.Request(
        f"http://127.0.0.1:{hub.http_port}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKENS[role]}"},
        method=method,
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def ack(hub, alarm_id: str) -> tuple[int, dict]:
    return send_json(hub, "POST", f"/api/alerts/{alarm_id}/ack", {"comment": "đã xử lý"}, Role.OFFICER)


def sent(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) FROM iocgw_alerts.deliveries WHERE status = 'sent'").fetchone()
    return int(row[0]) if row else 0


def flood(payloads: list[dict]) -> list[tuple[str, int]]:
    return [(p["transition"], p["alarm"]["level"]) for p in payloads if p["alarm"]["rule"] == "flood_level"]


def test_two_hubs_notify_each_transition_once_across_a_killed_leader(
    tmp_path, make_hub, make_node, postgres, influx, monkeypatch
):
    monkeypatch.setenv("IOCGW_TEST_WEBHOOK_SECRET", "s3cret-khóa")
    monkeypatch.setenv("IOCGW_TEST_PG_DSN", postgres.dsn)
    receiver = WebhookReceiver("s3cret-khóa")
    notify = {
        "retry_initial_s": 0.2,
        "targets": [
            {"type": "webhook", "name": "ioc", "url": receiver.url, "secret": {"env": "IOCGW_TEST_WEBHOOK_SECRET"}}
        ],
        "routes": [{"name": "all", "targets": ["ioc"]}],
    }
    cluster_alerts = {**flood_config(tmp_path), "cluster": {"dsn": {"env": "IOCGW_TEST_PG_DSN"}}}
    hubs = [
        make_hub(name, mqtt={"shared_group": "ingest"}, alerts=dict(cluster_alerts), notify=notify, api=api_section())
        for name in ("hub-a", "hub-b")
    ]
    try:
        leader = wait_until(lambda: next((h for h in hubs if leading(h)), None), what="a leader with its feed")
        standby = next(h for h in hubs if h is not leader)
        assert not leading(standby)
        node = make_node("river-longbien-01")
        for i in range(5):  # up to 10.8 m: BĐ2
            node.call(lambda a, i=i: a.record(stage_readings(i)))
        wait_until(lambda: sent(postgres.dsn) >= 2, what="created and escalated to BĐ2 delivered and recorded")
        assert flood(receiver.payloads) == SINGLE_HUB[:2]
        # Every hub answers the same from PostgreSQL.
        on_leader, on_standby = alerts(leader), alerts(standby)
        assert on_leader == on_standby and len(on_leader) == 1 and on_leader[0]["level"] == 2
        status, _ = ack(standby, on_leader[0]["id"])
        assert status == 503, "a hub that does not lead refuses acknowledgements"

        killed_at = time.monotonic()
        leader.kill()
        for i in range(5, 8):  # up to 11.9 m (BĐ3) while nobody leads: the broker keeps them in the alert session
            node.call(lambda a, i=i: a.record(stage_readings(i)))
        wait_until(lambda: leading(standby), timeout=TAKEOVER_BOUND_S, what="the standby leading")
        takeover_s = time.monotonic() - killed_at
        print(f"takeover after SIGKILL of the leader: {takeover_s:.2f} s")
        assert takeover_s < TAKEOVER_BOUND_S
        for i in range(8, len(HYDROGRAPH)):
            node.call(lambda a, i=i: a.record(stage_readings(i)))
        wait_until(lambda: any(p["transition"] == "cleared" for p in receiver.payloads), timeout=60, what="cleared")
        wait_until(lambda: sent(postgres.dsn) >= len(SINGLE_HUB), what="every delivery recorded")
    finally:
        receiver.server.shutdown()
    assert flood(receiver.payloads) == SINGLE_HUB, "each transition exactly once, in order"
    assert len({p["id"] for p in receiver.payloads}) == len(receiver.payloads) == len(SINGLE_HUB)
    assert receiver.bad_signatures == 0
    items = alerts(standby)
    assert len(items) == 1, "one alarm per rule and subject, never duplicated"
    assert items[0]["level"] == 0 and items[0]["peak_level"] == 3 and items[0]["state"] == "CLEARED_UNACK"
    # The leaders' alarm lines reached InfluxDB (the ingest writers store the readings, not these).
    rows = query(influx.url, "iocgw", "SELECT transition, level FROM alarm WHERE rule = 'flood_level'")
    assert [(r["transition"], r["level"]) for r in rows if r["transition"] != "updated"] == [
        ("created", 1),
        ("escalated", 2),
        ("escalated", 3),
        ("deescalated", 2),
        ("deescalated", 1),
        ("cleared", 0),
    ]
    status, acked = ack(standby, items[0]["id"])  # it leads now: through its engine
    assert status == 200 and acked["state"] == "CLEARED_ACK" and acked["acked_by"] == "officer-1"
    # A leader stops cleanly: it steps down (source, dispatcher, store closed on the way) and exits 0.
    stopped_at = time.monotonic()
    assert standby.stop(timeout=20) == 0
    assert time.monotonic() - stopped_at < 10
    assert "no longer leads the alert engine" in standby.log.read_text(errors="replace")
