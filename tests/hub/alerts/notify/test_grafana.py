"""The Grafana notifier against a local stand-in that checks requests as Grafana's annotation API documents them.

Grafana HTTP API, "Create Annotation": ``POST /api/annotations`` with a JSON body of ``dashboardUID`` (string,
optional), ``panelId`` (number, optional), ``time`` and ``timeEnd`` (epoch milliseconds, ``timeEnd`` only for a
region), ``tags`` (array of strings) and ``text`` (string); answer ``{"message":"Annotation added","id":1}``.
Service account tokens go in ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from hub.alerts.alarm import Condition, Transition, apply_condition
from hub.alerts.notify import Notification, NotifyError
from hub.alerts.notify.grafana import GrafanaConfig, GrafanaNotifier
from hub.config import Secret
from tests.hub.alerts.notify.stubs import T0, Answer, HttpStub, Seen, make_alarm, run

TOKEN = "glsa_test_token_0123456789"
_FIELDS: dict[str, Any] = {
    "dashboardUID": str,
    "dashboardId": int,
    "panelId": int,
    "time": int,
    "timeEnd": int,
    "tags": list,
    "text": str,
    "data": dict,
}


def grafana_check(token: str, base: str = "/grafana"):
    """Answer as Grafana served under ``base`` would: an error in Grafana's shape, or the new annotation's id."""
    counter = iter(range(1, 1000))

    def check(seen: Seen) -> Answer:
        if seen.method != "POST" or seen.path != f"{base}/api/annotations":
            return Answer(404, {"message": "Not found"})
        if seen.headers.get("Authorization") != f"Bearer {token}":
            return Answer(401, {"message": "invalid API key"})
        if not seen.headers.get("Content-Type", "").startswith("application/json"):
            return Answer(415, {"message": "Unsupported Media Type"})
        try:
            body = seen.json()
        except ValueError:
            return Answer(400, {"message": "bad request data"})
        problems = [k for k in body if k not in _FIELDS]
        problems += [k for k, v in body.items() if k in _FIELDS and (type(v) is not _FIELDS[k])]  # bool is no int
        if not isinstance(body.get("text"), str) or not body["text"].strip():
            problems.append("text field should not be empty")
        if not all(isinstance(t, str) for t in body.get("tags", [])):
            problems.append("tags")
        for key in ("time", "timeEnd"):
            if key in body and not 10**12 <= body[key] < 10**14:  # milliseconds, not seconds
                problems.append(key)
        if "timeEnd" in body and body["timeEnd"] < body.get("time", 0):
            problems.append("timeEnd before time")
        if problems:
            return Answer(400, {"message": f"bad request data: {problems}"})
        return Answer(200, {"message": "Annotation added", "id": next(counter)})

    return check


@pytest.fixture(autouse=True)
def _token(monkeypatch):
    monkeypatch.setenv("IOCGW_TEST_GRAFANA_TOKEN", TOKEN)


def config(stub: HttpStub, **over) -> GrafanaConfig:
    return GrafanaConfig(
        name="grafana", url=stub.url("/grafana/"), token=Secret(env="IOCGW_TEST_GRAFANA_TOKEN"), timeout_s=2, **over
    )


async def send_all(cfg: GrafanaConfig, notes: list[Notification]) -> None:
    n = GrafanaNotifier(cfg)
    await n.start()
    try:
        for note in notes:
            await n.send(note)
    finally:
        await n.close()


def test_point_then_region_annotation():
    alarm = make_alarm()
    cleared, _ = apply_condition(alarm, alarm.rule, alarm.subject, Condition(active=False), T0 + timedelta(hours=2))
    assert cleared is not None

    async def main():
        stub = await HttpStub(check=grafana_check(TOKEN)).start()
        try:
            await send_all(
                config(stub, dashboard_uid="ioc-hanoi", panel_id=4, tags=["hanoi"]),
                [
                    Notification.make(alarm, Transition.CREATED, "grafana", T0),
                    Notification.make(cleared, Transition.CLEARED, "grafana", T0),
                ],
            )
        finally:
            await stub.stop()
        return stub.seen

    point, region = [s.json() for s in run(main())]
    start_ms = int(T0.timestamp() * 1000)
    assert point["time"] == start_ms and "timeEnd" not in point
    assert point["tags"] == ["iocgw", "flood_level", "major", "ACTIVE_UNACK", "hanoi"]
    assert point["dashboardUID"] == "ioc-hanoi" and point["panelId"] == 4
    assert point["text"].startswith("MAJOR flood_level river-x/stage ACTIVE_UNACK: Mực nước")
    assert region["time"] == start_ms and region["timeEnd"] == start_ms + 2 * 3600 * 1000
    assert "CLEARED_UNACK" in region["tags"]


def test_organisation_annotation_has_no_dashboard():
    async def main():
        stub = await HttpStub(check=grafana_check(TOKEN)).start()
        try:
            await send_all(config(stub, org_id=2), [Notification.make(make_alarm(), Transition.CREATED, "g", T0)])
        finally:
            await stub.stop()
        return stub.seen[0]

    seen = run(main())
    assert set(seen.json()) == {"time", "tags", "text"}
    assert seen.headers["X-Grafana-Org-Id"] == "2"


def test_bad_token_is_final_and_a_non_grafana_answer_is_retried():
    async def main():
        stub = await HttpStub(check=grafana_check("another token")).start()
        note = Notification.make(make_alarm(), Transition.CREATED, "g", T0)
        try:
            with pytest.raises(NotifyError, match="HTTP 401") as bad_token:
                await send_all(config(stub), [note])
            stub.check = lambda seen: Answer(200, "<html>Please log in</html>")
            with pytest.raises(NotifyError, match="without an annotation id") as not_grafana:
                await send_all(config(stub), [note])
        finally:
            await stub.stop()
        return bad_token.value, not_grafana.value

    bad_token, not_grafana = run(main())
    assert bad_token.retryable is False and not_grafana.retryable is True


def test_panel_needs_a_dashboard():
    with pytest.raises(ValueError, match="panel_id needs dashboard_uid"):
        GrafanaConfig(name="g", url="http://g:3000", token=Secret(env="T"), panel_id=2)
