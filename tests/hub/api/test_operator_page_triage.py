"""The operator page's triage in headless Chromium against real alarms raised through the engine: unacknowledged and
most severe first, an order that holds still while an officer acts on a row, counts per severity and hazard, and
Vietnamese words and names where the API has codes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from hub.alerts.evaluate.base import Observation
from hub.api.auth import Role
from testkit.browser import CHROMIUM, MISSING, chromium_page
from tests.hub.api.support import TOKENS, LocalHub

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=MISSING)

T0 = datetime(2026, 10, 1, 3, 0, tzinfo=UTC)
# What an English build of the page would show; none of it may reach the officer.
ENGLISH = re.compile(r"\b(critical|major|minor|warning|info|ACTIVE_UNACK|ACTIVE_ACK|flood_level|dam_safety)\b", re.I)


def raise_alarms(hub: LocalHub) -> dict[str, str]:
    """BĐ1 at Long Biên (flood: warning; Hà Nội's risk level 1: info), then Hà Tĩnh's reservoir between its design and
    check flood levels (major). The API lists them by last update: dam, risk, flood. Returns ids by rule."""
    assert hub.engine is not None
    hub.stage(9.7, T0)
    later = T0 + timedelta(minutes=10)
    hub.engine.process([Observation("reservoir-001", "level", "reservoir_level", later, 34.5)], now=later)
    alerts = hub.client(Role.VIEWER).get("/api/alerts?active=true").body["alerts"]
    assert [a["rule"] for a in alerts] == ["dam_safety", "disaster_risk", "flood_level"]
    return {a["rule"]: a["id"] for a in alerts}


@contextmanager
def officer_page(hub: LocalHub, tmp_path: Path) -> Iterator[Page]:
    from playwright.sync_api import expect

    with chromium_page(tmp_path / "chromium-profile") as (page, problems):
        page.goto(f"{hub.base}/?refresh_ms=300")
        page.fill("#token", TOKENS[Role.OFFICER])
        page.click("#login-form button")
        expect(page.locator("#who-name")).to_have_text("officer-1 (officer)")
        yield page
    assert problems == [], "no console errors"


def expect_order(page: Page, ids: list[str]) -> None:
    from playwright.sync_api import expect

    rows = page.locator("#alerts tbody tr")
    expect(rows).to_have_count(len(ids))
    for i, alarm_id in enumerate(ids):
        expect(rows.nth(i)).to_have_attribute("data-alert-id", alarm_id)


def order_now(page: Page) -> list[str]:
    return page.locator("#alerts tbody tr").evaluate_all("rows => rows.map(r => r.dataset.alertId)")


def test_unacknowledged_and_severe_first_in_vietnamese_with_names(local_hub, tmp_path):
    from playwright.sync_api import expect

    ids = raise_alarms(local_hub)
    with officer_page(local_hub, tmp_path) as page:
        # Severity first among the unacknowledged: the major dam alarm, the warning flood, the info risk level.
        expect_order(page, [ids["dam_safety"], ids["flood_level"], ids["disaster_risk"]])

        def row(rule: str):
            return page.locator(f'#alerts tr[data-alert-id="{ids[rule]}"]')

        # Severities and states in words, names instead of codes (the code stays as a tooltip).
        expect(row("dam_safety").locator(".badge")).to_have_text("Nguy hiểm")
        expect(row("flood_level").locator(".badge")).to_have_text("Chú ý")
        expect(row("flood_level").locator(".state")).to_have_text("Chưa xác nhận")
        flood_cells = row("flood_level").locator("td")
        expect(flood_cells.nth(1)).to_have_text("Lũ (mực nước)")
        expect(flood_cells.nth(2)).to_have_text("Hà Nội (Long Biên)")
        expect(flood_cells.nth(2)).to_have_attribute("title", "hong-long-bien")
        expect(flood_cells.nth(3)).to_have_text("Thành phố Hà Nội")
        dam_cells = row("dam_safety").locator("td")
        expect(dam_cells.nth(2)).to_have_text("Hồ chứa minh hoạ")
        expect(dam_cells.nth(3)).to_have_text("Tỉnh Hà Tĩnh")
        expect(row("disaster_risk").locator("td").nth(2)).to_have_text("Thành phố Hà Nội")

        # Counts of the active alarms, per severity (zeros included) and per hazard.
        severity = page.locator("#count-severity li")
        one = "1 (1 chưa xác nhận)"
        expect(severity).to_have_text(
            ["Rất nguy hiểm: 0", f"Nguy hiểm: {one}", "Cảnh báo: 0", f"Chú ý: {one}", f"Thông tin: {one}"]
        )
        hazard = page.locator("#count-hazard li")
        expect(hazard).to_have_text(
            ["Lũ: 1 (1 chưa xác nhận)", "Hồ đập: 1 (1 chưa xác nhận)", "Rủi ro thiên tai: 1 (1 chưa xác nhận)"]
        )
        assert ENGLISH.findall(page.locator("#board").inner_text()) == []

        # Acknowledged, the dam alarm goes below the unacknowledged ones; not while the pointer is still over it.
        dam = row("dam_safety")
        dam.locator(".ack-comment").fill("đã báo chủ hồ")
        dam.locator(".ack-button").click()
        expect(dam.locator(".state")).to_have_text("Đã xác nhận")
        expect(page.locator('#count-hazard li[data-key="dam"]')).to_have_text("Hồ đập: 1")  # a refresh came
        expect(page.locator("#alerts")).to_have_attribute("data-order", "held")
        assert order_now(page) == [ids["dam_safety"], ids["flood_level"], ids["disaster_risk"]]
        page.mouse.move(5, 5)  # the pointer leaves the table
        expect_order(page, [ids["flood_level"], ids["disaster_risk"], ids["dam_safety"]])
        expect(page.locator("#alerts")).to_have_attribute("data-order", "triage")
        expect(dam).to_contain_text("officer-1")
        assert ENGLISH.findall(page.locator("#board").inner_text()) == []


def test_order_holds_while_a_comment_is_typed_and_catches_up_after(local_hub, tmp_path):
    from playwright.sync_api import expect

    ids = raise_alarms(local_hub)
    with officer_page(local_hub, tmp_path) as page:
        before = [ids["dam_safety"], ids["flood_level"], ids["disaster_risk"]]
        expect_order(page, before)
        risk = page.locator(f'#alerts tr[data-alert-id="{ids["disaster_risk"]}"]')
        flood = page.locator(f'#alerts tr[data-alert-id="{ids["flood_level"]}"]')
        risk.locator(".ack-comment").fill("đang gọi xã")
        page.mouse.move(5, 5)

        # BĐ3: the flood alarm becomes critical and would go first, but a note is being typed on the page.
        local_hub.stage(11.6, T0 + timedelta(hours=1))
        expect(flood.locator(".badge")).to_have_text("Rất nguy hiểm")  # the refresh reached the page
        expect(page.locator("#alerts")).to_have_attribute("data-order", "held")
        assert order_now(page) == before
        expect(risk.locator(".ack-comment")).to_have_value("đang gọi xã")

        # The note given up and the field left: the critical alarm goes on top.
        risk.locator(".ack-comment").fill("")
        page.locator("h1").click()
        expect_order(page, [ids["flood_level"], ids["dam_safety"], ids["disaster_risk"]])
        expect(page.locator('#count-severity li[data-key="critical"]')).to_have_text(
            "Rất nguy hiểm: 1 (1 chưa xác nhận)"
        )


def test_rows_are_not_rebuilt_when_nothing_changed(local_hub, tmp_path):
    from playwright.sync_api import expect

    ids = raise_alarms(local_hub)
    with officer_page(local_hub, tmp_path) as page:
        expect_order(page, [ids["dam_safety"], ids["flood_level"], ids["disaster_risk"]])
        # A mark on a cell survives refreshes only if the cell is never replaced.
        page.locator(f'#alerts tr[data-alert-id="{ids["flood_level"]}"] td').nth(4).evaluate(
            "td => td.dataset.mark = 'kept'"
        )
        status = page.locator("#status")
        first = status.inner_text()
        expect(status).not_to_have_text(first)  # at least one refresh since (the time in it moved on)
        expect(page.locator('#alerts td[data-mark="kept"]')).to_have_count(1)
        # A change redraws the row: the BĐ2 message replaces the cell.
        local_hub.stage(10.6, T0 + timedelta(minutes=30))
        expect(page.locator(f'#alerts tr[data-alert-id="{ids["flood_level"]}"] .badge')).to_have_text("Nguy hiểm")
        expect(page.locator('#alerts td[data-mark="kept"]')).to_have_count(0)


def test_officer_acknowledges_one_hazard_in_one_area_at_once(local_hub, tmp_path):
    from playwright.sync_api import expect

    ids = raise_alarms(local_hub)
    with officer_page(local_hub, tmp_path) as page:
        options = page.locator("#bulk-group option")
        expect(options).to_have_text(
            ["Lũ · Thành phố Hà Nội (1)", "Hồ đập · Tỉnh Hà Tĩnh (1)", "Rủi ro thiên tai · Thành phố Hà Nội (1)"]
        )
        page.select_option("#bulk-group", label="Lũ · Thành phố Hà Nội (1)")
        page.fill("#bulk-comment", "đã báo các xã ven sông")
        page.click("#bulk-button")
        expect(page.locator("#bulk-status")).to_have_text("Đã xác nhận 1 cảnh báo")
        flood = page.locator(f'#alerts tr[data-alert-id="{ids["flood_level"]}"]')
        expect(flood.locator(".state")).to_have_text("Đã xác nhận")
        expect(flood).to_contain_text("đã báo các xã ven sông")
        # The choice is gone once nothing of it is left; the other hazards are untouched.
        expect(options).to_have_text(["Hồ đập · Tỉnh Hà Tĩnh (1)", "Rủi ro thiên tai · Thành phố Hà Nội (1)"])
    stored = {a["rule"]: a for a in local_hub.client(Role.VIEWER).get("/api/alerts?active=true").body["alerts"]}
    assert (stored["flood_level"]["acked_by"], stored["flood_level"]["ack_comment"]) == (
        "officer-1",
        "đã báo các xã ven sông",
    )
    assert stored["dam_safety"]["state"] == stored["disaster_risk"]["state"] == "ACTIVE_UNACK"
