"""Nodes and their health, dead letters, and the open monitoring routes."""

from __future__ import annotations

import json
import time

from hub.api.auth import Role
from hub.store.state import DeadLetter, NodeInfo


def test_nodes_show_online_and_health_with_the_reasons(local_hub):
    now = time.time()
    local_hub.state.register([NodeInfo(f"node-{name}", name=f"Trạm {name}", admin_code="42") for name in "abcde"])
    statuses = {
        "node-a": ("online", json.dumps({"state": "online"})),
        "node-b": ("online", json.dumps({"state": "online", "last_error": "RS-485 timeout", "outbox_dropped": 3})),
        "node-c": ("stopped", json.dumps({"state": "stopped"})),
    }
    seen = {"node-a": now, "node-b": now, "node-c": now, "node-d": now - 3600}
    local_hub.state.persist(dead_letters=[], seen=seen, statuses=statuses, sensor_values={}, dedupe={})

    nodes = {n["node_id"]: n for n in local_hub.client(Role.VIEWER).get("/api/nodes").body["nodes"]}
    assert {k: (n["online"], n["health"]) for k, n in nodes.items()} == {
        "node-a": (True, "ok"),
        "node-b": (True, "degraded"),
        "node-c": (False, "offline"),
        "node-d": (False, "offline"),
        "node-e": (False, "never_seen"),
    }
    assert nodes["node-b"]["problems"] == ["last error: RS-485 timeout", "outbox dropped 3 messages"]
    assert nodes["node-c"]["problems"] == ["reported stopped"]
    assert nodes["node-d"]["problems"][0].startswith("silent for 3600 s")
    assert nodes["node-a"]["name"] == "Trạm a" and nodes["node-a"]["last_status"] == {"state": "online"}


def test_dead_letters_newest_first_with_a_bounded_limit(local_hub):
    letters = [DeadLetter(f"iocgw/v1/x/telemetry/{i}", f"reason {i}", b"{}", time.time()) for i in range(3)]
    local_hub.state.persist(dead_letters=letters, seen={}, statuses={}, sensor_values={}, dedupe={})
    viewer = local_hub.client(Role.VIEWER)
    body = viewer.get("/api/dead-letters?limit=2").body
    assert body["count"] == 3 and [d["reason"] for d in body["items"]] == ["reason 2", "reason 1"]
    assert viewer.get("/api/dead-letters?limit=5000").status == 422


def test_monitoring_routes_stay_open(local_hub):
    health = local_hub.client().get("/healthz")
    assert health.status == 200 and health.body["status"] == "ok"
    metrics = local_hub.client().get("/metrics")
    assert metrics.status == 200 and metrics.headers["Content-Type"].startswith("text/plain")
    assert local_hub.client().call("HEAD", "/healthz").status == 200


def test_the_page_is_served_as_utf8_with_a_strict_policy(local_hub):
    page = local_hub.client().get("/")
    assert page.status == 200 and page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "Cảnh báo đang hoạt động" in page.body
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert local_hub.client().get("/web/app.js").headers["Content-Type"].startswith("text/javascript")
    assert local_hub.client().get("/web/../hub.db").status == 404
    assert local_hub.client().get("/web/secret.txt").status == 404
