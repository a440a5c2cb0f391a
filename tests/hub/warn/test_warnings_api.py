"""Public warnings through the operator API, with the real engine raising the alarms: a BĐ1 warning waits for an
officer, who approves it (a viewer cannot); every message is listed with its state; the SMS gateway's delivery
reports are taken only with the shared key; the audit trail records who decided."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from hub.alerts.config import AlertsConfig, load_rule_tables
from hub.alerts.engine import AlertEngine
from hub.alerts.evaluate.base import Observation
from hub.alerts.rules.severity import Severity
from hub.alerts.store import AlertStore
from hub.api.app import make_app
from hub.api.auth import ApiSettings, Role
from hub.metrics import Metrics
from hub.store.state import HubState
from hub.warn.config import WarningsConfig
from hub.warn.policy import Policy
from hub.warn.recipients import parse_recipients
from hub.warn.service import PublicWarnings
from tests.hub.api.support import Client, Pipeline, ServerThread, api_section, write_rules
from tests.hub.warn.test_dispatch import COMMUNES, UNITS, FakeChannel, FakeConfig

DLR_KEY = "dlr-key-0123456789abcdef"
T0 = datetime(2026, 10, 28, 3, 0, tzinfo=UTC)


class Site:
    def __init__(self, tmp_path: Path) -> None:
        data = tmp_path / "data"
        self.state = HubState(data / "hub.db")
        self.state.register([])
        cfg = WarningsConfig(
            channels=[FakeConfig(name="sms", rate_limit_per_s=1000.0)],
            policies=[
                Policy(
                    name="bd1-officer",
                    rules=["flood_level"],
                    min_severity=Severity.WARNING,
                    roles=["resident"],
                    channels=["sms"],
                    approval="officer",
                )
            ],
            dlr_token={"env": "IOCGW_TEST_DLR_KEY"},
        )
        rows = ["id,role,admin_code,phone"] + [f"r{k},resident,{COMMUNES[k % 2]},09{k:08d}" for k in range(4)]
        self.channel = FakeChannel(FakeConfig(name="sms", rate_limit_per_s=1000.0), reports=True)
        self.warnings = PublicWarnings(
            cfg, data / "warnings.db", parse_recipients("\n".join(rows), UNITS), channels={"sms": self.channel}
        )
        alerts = AlertsConfig.model_validate(write_rules(tmp_path / "rules"))
        self.engine = AlertEngine(
            alerts,
            load_rule_tables(alerts),
            AlertStore(data / "alerts.db"),
            areas={"river-longbien-01": "01"},
            intervals={},
            notify=lambda events: [self.warnings.submit(a, t) for _, a, t in events],
        )
        app = make_app(
            Pipeline(),
            Metrics(),
            self.state,
            300.0,
            engine=self.engine,
            auth=ApiSettings.model_validate(api_section()),
            warnings=self.warnings,
        )
        self.server = ServerThread(app).start()
        asyncio.run_coroutine_threadsafe(self.warnings.start(), self.server.loop).result(10)
        self.base = f"http://127.0.0.1:{self.server.port}"

    def client(self, role: Role | None = None) -> Client:
        return Client(self.base).as_(role)

    def stage(self, value: float) -> None:
        self.engine.process([Observation("river-longbien-01", "stage", "water_level", T0, value)], now=T0)

    def wait(self, what: str, cond: Any) -> None:
        async def poll() -> None:
            while not cond():
                await asyncio.sleep(0.01)

        try:
            asyncio.run_coroutine_threadsafe(asyncio.wait_for(poll(), 10), self.server.loop).result(15)
        except TimeoutError:
            raise AssertionError(f"timed out waiting for {what}") from None

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.warnings.close(), self.server.loop).result(10)
        self.server.stop()
        self.engine.store.close()
        self.state.close()


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    monkeypatch.setenv("IOCGW_TEST_DLR_KEY", DLR_KEY)
    s = Site(tmp_path)
    yield s
    s.close()


def test_an_officer_approves_a_warning_and_its_messages_are_listed(site: Site) -> None:
    site.stage(9.7)  # BĐ1 at Long Biên (Hà Nội, 01): a province-wide warning
    viewer, officer = site.client(Role.VIEWER), site.client(Role.OFFICER)
    waiting = viewer.get("/api/warnings/batches?state=awaiting_approval")
    assert waiting.status == 200 and waiting.body["count"] == 1
    batch = waiting.body["batches"][0]
    assert batch["policy"] == "bd1-officer" and batch["alarm"]["rule"] == "flood_level" and batch["area"] == "01"
    bid = quote(batch["id"], safe="")

    refused = viewer.post(f"/api/warnings/batches/{bid}/approve", {"comment": "ok"})
    assert refused.status == 403
    assert site.client().get("/api/warnings/batches").status == 401

    approved = officer.post(f"/api/warnings/batches/{bid}/approve", {"comment": "đã xác minh tại trạm"})
    assert approved.status == 200 and approved.body["state"] == "approved"
    assert approved.body["decided_by"] == "officer-1" and approved.body["comment"] == "đã xác minh tại trạm"
    site.wait("four messages sent", lambda: len(site.channel.sent) == 4)
    assert officer.post(f"/api/warnings/batches/{bid}/approve").status == 409
    assert officer.post("/api/warnings/batches/nope/reject").status == 404

    alarm_id = batch["alarm_id"]
    site.wait("all four sent", lambda: site.warnings.outbox.counts() == {"sent": 4})
    listed = viewer.get(f"/api/warnings/messages?alarm_id={alarm_id}")
    assert listed.body["count"] == 4 and {m["state"] for m in listed.body["messages"]} == {"sent"}
    assert all(m["address"].startswith("+849") and m["attempts"] == 1 for m in listed.body["messages"])
    audit = viewer.get("/api/warnings/audit").body["entries"]
    assert [(e["actor"], e["action"]) for e in audit] == [("officer-1", "approve")]


def test_delivery_reports_need_the_key_and_move_a_message_forward(site: Site) -> None:
    site.stage(9.7)
    bid = site.warnings.outbox.batches("awaiting_approval")[0]["id"]
    site.warnings.approve(bid, "officer-1")
    site.wait("sent", lambda: site.warnings.outbox.counts() == {"sent": 4})
    mid = site.warnings.outbox.messages()[0]["id"]
    anyone = site.client()
    assert anyone.get(f"/api/warnings/dlr/kannel?key=wrong-key-0123456789&id={quote(mid)}&type=1").status == 403
    ok = anyone.get(f"/api/warnings/dlr/kannel?key={DLR_KEY}&id={quote(mid)}&type=1&reply=ACK")
    assert ok.status == 200 and ok.body == "ok"
    assert site.warnings.outbox.messages(id=mid)[0]["state"] == "delivered"
    # A later "buffered at the SMSC" report never moves a delivered message back.
    assert anyone.get(f"/api/warnings/dlr/kannel?key={DLR_KEY}&id={quote(mid)}&type=4").status == 200
    assert site.warnings.outbox.messages(id=mid)[0]["state"] == "delivered"
    other = site.warnings.outbox.messages()[1]["id"]
    assert anyone.get(f"/api/warnings/dlr/kannel?key={DLR_KEY}&id={quote(other)}&type=16&reply=NACK").status == 200
    failed = site.warnings.outbox.messages(id=other)[0]
    assert failed["state"] == "failed" and failed["last_error"] == "NACK"
    assert anyone.get(f"/api/warnings/dlr/kannel?key={DLR_KEY}&id=unknown&type=1").body == "unknown message"
    assert anyone.get(f"/api/warnings/dlr/kannel?key={DLR_KEY}&id=x&type=high").status == 422


def test_approved_warnings_are_public_as_cap_and_in_the_atom_feed(site: Site) -> None:
    import xml.etree.ElementTree as ET

    import xmlschema

    schema = xmlschema.XMLSchema(Path(__file__).parents[3] / "hub" / "warn" / "data" / "CAP-v1.2.xsd")
    anyone = site.client()
    assert anyone.get("/public/alerts.atom").status == 200  # empty but valid before anything went out
    site.stage(9.7)
    bid = site.warnings.outbox.batches("awaiting_approval")[0]["id"]
    assert site.warnings.outbox.cap_active() == []  # not public before an officer approves it
    site.warnings.approve(bid, "officer-1")
    site.wait("the CAP message", lambda: len(site.warnings.outbox.cap_active()) == 1)
    feed = anyone.get("/public/alerts.atom")
    assert feed.status == 200 and feed.headers["Content-Type"].startswith("application/atom+xml")
    root = ET.fromstring(feed.body.encode())
    ns = {"a": "http://www.w3.org/2005/Atom"}
    [entry] = root.findall("a:entry", ns)
    link = next(x.get("href") for x in entry.findall("a:link", ns) if x.get("type") == "application/cap+xml")
    assert link is not None and link.endswith(".xml")
    cap = anyone.get("/public/cap/" + link.rsplit("/", 1)[1])
    assert cap.status == 200 and cap.headers["Content-Type"].startswith("application/cap+xml")
    schema.validate(cap.body.encode())  # raises when invalid
    assert "<msgType>Alert</msgType>" in cap.body and "vi-VN" in cap.body and "en-US" in cap.body
    assert anyone.get("/public/cap/nope.xml").status == 404
