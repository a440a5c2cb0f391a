"""The operator page's public warnings in headless Chromium against the API with real public warnings: a BĐ1 warning
held for an officer is listed with its message; an officer approves or rejects it with a note and reads the delivery
counts; a viewer sees it without the buttons; a hub without public warnings shows nothing of them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
from testkit.browser import CHROMIUM, MISSING, chromium_page
from tests.hub.api.support import TOKENS, Client, Pipeline, ServerThread, api_section, write_rules
from tests.hub.warn.test_dispatch import COMMUNES, UNITS, FakeChannel, FakeConfig

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=MISSING)

T0 = datetime(2026, 10, 28, 3, 0, tzinfo=UTC)
RECIPIENTS = 4
BATCHES = "/api/warnings/batches"


class Site:
    """The engine, the alert store and (unless ``warnings`` is False) public warnings with one officer-approved
    policy for BĐ1 floods, behind the API on a thread, as tests/hub/warn/test_warnings_api.py wires them."""

    def __init__(self, tmp_path: Path, *, warnings: bool = True) -> None:
        data = tmp_path / "data"
        self.state = HubState(data / "hub.db")
        self.state.register([])
        self.channel = FakeChannel(FakeConfig(name="sms", rate_limit_per_s=1000.0), reports=True)
        self.warnings: PublicWarnings | None = None
        if warnings:
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
            )
            rows = ["id,role,admin_code,phone"]
            rows += [f"r{k},resident,{COMMUNES[k % 2]},09{k:08d}" for k in range(RECIPIENTS)]
            self.warnings = PublicWarnings(
                cfg, data / "warnings.db", parse_recipients("\n".join(rows), UNITS), channels={"sms": self.channel}
            )
        service = self.warnings
        # As hub/service.py wires it (the page learns from whoami whether the hub has public warnings).
        self.metrics = Metrics()
        if service is not None:
            self.metrics.extra.append(service.metric_lines)
        alerts = AlertsConfig.model_validate(write_rules(tmp_path / "rules"))
        self.engine = AlertEngine(
            alerts,
            load_rule_tables(alerts),
            AlertStore(data / "alerts.db"),
            areas={"river-longbien-01": "01"},
            intervals={},
            notify=(lambda events: [service.submit(a, t) for _, a, t in events]) if service else None,
        )
        # The page lists the active alerts beside the warnings: without a store it would read errors there.
        self.alert_store = AlertStore(data / "alerts.db")
        app = make_app(
            Pipeline(),
            self.metrics,
            self.state,
            300.0,
            engine=self.engine,
            alerts=self.alert_store,
            auth=ApiSettings.model_validate(api_section()),
            warnings=self.warnings,
        )
        self.server = ServerThread(app).start()
        if self.warnings is not None:
            asyncio.run_coroutine_threadsafe(self.warnings.start(), self.server.loop).result(10)
        self.base = f"http://127.0.0.1:{self.server.port}"

    def client(self, role: Role) -> Client:
        return Client(self.base).as_(role)

    def stage(self, value: float) -> None:
        self.engine.process([Observation("river-longbien-01", "stage", "water_level", T0, value)], now=T0)

    def waiting(self) -> dict[str, Any]:
        """The one batch awaiting approval, as the API lists it."""
        body = self.client(Role.VIEWER).get(f"{BATCHES}?state=awaiting_approval").body
        assert body["count"] == 1, body
        batch: dict[str, Any] = body["batches"][0]
        return batch

    def close(self) -> None:
        if self.warnings is not None:
            asyncio.run_coroutine_threadsafe(self.warnings.close(), self.server.loop).result(10)
        self.server.stop()
        self.engine.store.close()
        self.alert_store.close()
        self.state.close()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    s = Site(tmp_path)
    yield s
    s.close()


@contextmanager
def signed_in(tmp_path: Path, base: str, role: Role) -> Iterator[tuple[Page, list[str], list[str]]]:
    """The page in Chromium, signed in with ``role``'s token; yields it, its console errors and the warnings
    requests it made."""
    from playwright.sync_api import expect

    asked: list[str] = []
    with chromium_page(tmp_path / "chromium-profile") as (page, problems):
        page.on("request", lambda r: asked.append(r.url) if "/api/warnings/" in r.url else None)
        page.goto(f"{base}/?refresh_ms=300")
        page.fill("#token", TOKENS[role])
        page.click("#login-form button")
        expect(page.locator("#who-name")).to_have_text(f"{role.value}-1 ({role.value})")
        yield page, problems, asked


def test_an_officer_approves_a_held_warning_and_reads_its_delivery(tmp_path: Path, site: Site) -> None:
    from playwright.sync_api import expect

    site.stage(9.7)  # BĐ1 at Long Biên: the officer policy holds the warning
    batch = site.waiting()
    message = batch["alarm"]["message"]
    assert message and "/" in batch["id"] and "." in batch["id"]  # the page must encode it in the path

    with signed_in(tmp_path, site.base, Role.OFFICER) as (page, problems, _):
        card = page.locator(f'#warn-pending .warn-batch[data-batch-id="{batch["id"]}"]')
        expect(page.locator("#warnings h2")).to_have_text("Cảnh báo công cộng")
        expect(card.locator(".warn-message")).to_have_text(message)
        expect(card).to_contain_text("Chính sách: bd1-officer")
        expect(card).to_contain_text("Khu vực: 01")
        recent = page.locator(f'#warn-recent tbody tr[data-batch-id="{batch["id"]}"]')
        expect(recent.locator(".batch-state")).to_have_text("Chờ duyệt")

        # A comment typed across several refresh cycles survives them (the card is kept while its batch waits).
        card.locator(".warn-comment").fill("đã xác minh tại trạm Long Biên")
        for _ in range(2):  # two lists answered after the typing: one at least was rendered over the card
            page.wait_for_event("response", lambda r: "state=awaiting_approval" in r.url)
        expect(card.locator(".warn-comment")).to_have_value("đã xác minh tại trạm Long Biên")
        card.get_by_role("button", name="Duyệt gửi").click()

        expect(card).to_have_count(0)
        expect(page.locator("#warn-status")).to_have_text(f"Đã duyệt gửi: {message}")
        expect(page.locator("#warn-pending-empty")).to_be_visible()
        stored = site.client(Role.VIEWER).get(BATCHES).body["batches"][0]
        assert (stored["id"], stored["decided_by"], stored["comment"]) == (
            batch["id"],
            "officer-1",
            "đã xác minh tại trạm Long Biên",
        )
        assert stored["state"] in ("approved", "expanded")
        expect(recent).to_contain_text("officer-1")
        expect(recent).to_contain_text("đã xác minh tại trạm Long Biên")
        expect(recent.locator(".msg-sent")).to_have_text(f"Đã gửi: {RECIPIENTS}")
        expect(recent.locator(".batch-state")).to_have_text("Đã duyệt gửi")

        # Delivery reports move the counts on the next refresh: one delivered, one failed, the rest still sent.
        assert site.warnings is not None
        first, second = (m["id"] for m in site.warnings.outbox.messages()[:2])
        assert site.warnings.report(first, "delivered", "ACK") and site.warnings.report(second, "failed", "NACK")
        expect(recent.locator(".msg-delivered")).to_have_text("Đã nhận: 1")
        expect(recent.locator(".msg-failed")).to_have_text("Lỗi: 1")
        expect(recent.locator(".msg-sent")).to_have_text(f"Đã gửi: {RECIPIENTS - 2}")
        expect(recent.locator(".msg-queued")).to_have_text("Chờ gửi: 0")
    assert len(site.channel.sent) == RECIPIENTS
    assert problems == [], "no console errors (CSP violations, script errors, failed requests)"


def test_an_officer_rejects_a_held_warning_and_nothing_is_sent(tmp_path: Path, site: Site) -> None:
    from playwright.sync_api import expect

    site.stage(9.7)
    batch = site.waiting()
    with signed_in(tmp_path, site.base, Role.OFFICER) as (page, problems, asked):
        card = page.locator(f'#warn-pending .warn-batch[data-batch-id="{batch["id"]}"]')
        comment = card.locator(".warn-comment")
        comment.focus()
        # Refreshes come and go while the officer types: the field keeps the focus (a moved card lost it, and the
        # keys typed next went nowhere).
        for _ in range(2):
            with page.expect_response(lambda r: "/api/warnings/batches?state=awaiting_approval" in r.url):
                pass
        page.wait_for_function("document.activeElement && document.activeElement.matches('.warn-comment')")
        comment.press_sequentially("báo động giả: cảm biến hỏng")
        expect(comment).to_have_value("báo động giả: cảm biến hỏng")
        card.get_by_role("button", name="Không gửi").click()
        expect(card).to_have_count(0)
        recent = page.locator(f'#warn-recent tbody tr[data-batch-id="{batch["id"]}"]')
        expect(recent.locator(".batch-state")).to_have_text("Không gửi")
        expect(recent).to_contain_text("báo động giả: cảm biến hỏng")
    stored = site.client(Role.VIEWER).get(BATCHES).body["batches"][0]
    assert (stored["state"], stored["decided_by"], stored["messages"]) == ("rejected", "officer-1", 0)
    assert site.channel.sent == []
    # The id went into the path encoded: its '/' as %2F, so the hub's route matched it as one segment.
    assert any("%2F" in url and url.endswith("/reject") for url in asked), asked
    assert problems == []


def test_a_viewer_sees_held_warnings_without_the_buttons(tmp_path: Path, site: Site) -> None:
    from playwright.sync_api import expect

    site.stage(9.7)
    batch = site.waiting()
    with signed_in(tmp_path, site.base, Role.VIEWER) as (page, problems, _):
        card = page.locator(f'#warn-pending .warn-batch[data-batch-id="{batch["id"]}"]')
        expect(card.locator(".warn-message")).to_have_text(batch["alarm"]["message"])
        expect(card).to_contain_text("Cần quyền trực ban để duyệt")
        expect(card.get_by_role("button")).to_have_count(0)
        expect(card.locator(".warn-comment")).to_have_count(0)
    assert site.waiting()["state"] == "awaiting_approval"
    assert problems == []


def test_without_public_warnings_the_section_stays_away(tmp_path: Path) -> None:
    from playwright.sync_api import expect

    site = Site(tmp_path, warnings=False)
    try:
        site.stage(9.7)
        assert site.client(Role.OFFICER).get(BATCHES).status == 404
        with signed_in(tmp_path, site.base, Role.OFFICER) as (page, problems, asked):
            # The alerts around it keep refreshing: several cycles pass after the hub said it has no warnings.
            expect(page.locator("#alerts tbody")).to_contain_text("Lũ (mực nước)")
            for _ in range(3):
                page.wait_for_event("response", lambda r: "/api/alerts?active=true" in r.url)
            expect(page.locator("#status")).to_contain_text("cảnh báo · cập nhật")
            expect(page.locator("#status")).not_to_have_class("error")
            expect(page.locator("#warnings")).to_be_hidden()
            expect(page.get_by_text("Cảnh báo công cộng")).to_be_hidden()
    finally:
        site.close()
    # Never asked: its 404 would be a console error on every hub without public warnings.
    assert asked == [], asked
    assert problems == [], "no console errors (CSP violations, script errors, failed requests)"
