"""Sign-in once (a session cookie), shareable links, the wall display, and alarms pushed to the page as they change."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.cookies import SimpleCookie
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from hub.api.app import FEED
from hub.api.auth import ApiSettings, Role
from hub.api.console_settings import ConsoleSettings
from hub.api.session import load_session_key
from hub.api.session_cookie import COOKIE, SessionCookies
from testkit.browser import CHROMIUM, FLAGS, MISSING, chromium_page
from tests.hub.api.support import TOKENS, LocalHub, api_section

if TYPE_CHECKING:
    from playwright.sync_api import Page

T0 = datetime(2026, 10, 1, 3, 0, tzinfo=UTC)


def request(
    hub: LocalHub, method: str, path: str, body: object = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], list[str], bytes]:
    """(status, headers, every Set-Cookie, body): http.client, because urllib folds repeated headers."""
    conn = http.client.HTTPConnection("127.0.0.1", hub.server.port, timeout=10)
    try:
        data = None if body is None else json.dumps(body).encode()
        conn.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.headers.get_all("Set-Cookie") or [], resp.read()
    finally:
        conn.close()


def sign_in(hub: LocalHub, role: Role, headers: dict[str, str] | None = None) -> tuple[str, SimpleCookie]:
    status, _, cookies, body = request(hub, "POST", "/api/session", {"token": TOKENS[role]}, headers)
    assert status == 200, body
    assert json.loads(body)["role"] == role.value
    assert len(cookies) == 1
    jar: SimpleCookie = SimpleCookie()
    jar.load(cookies[0])
    return jar[COOKIE].value, jar


def test_a_token_buys_an_http_only_same_site_expiring_cookie(local_hub):
    value, jar = sign_in(local_hub, Role.OFFICER)
    morsel = jar[COOKIE]
    assert morsel["httponly"] is True and morsel["samesite"] == "Strict" and morsel["path"] == "/"
    assert int(morsel["max-age"]) == 12 * 3600  # console.session_hours' default
    assert not morsel["secure"]  # plain HTTP on loopback: a Secure cookie would never come back
    assert TOKENS[Role.OFFICER] not in value  # the cookie is not the token
    # Behind the IOC's TLS proxy the cookie is Secure.
    _, behind_proxy = sign_in(local_hub, Role.OFFICER, {"X-Forwarded-Proto": "https"})
    assert behind_proxy[COOKIE]["secure"] is True
    # A wrong token: 401 and no cookie.
    status, _, cookies, _ = request(local_hub, "POST", "/api/session", {"token": "not-a-token"})
    assert status == 401 and cookies == []


def test_the_cookie_reads_and_changes_only_with_the_page_header_and_ends_at_sign_out(local_hub):
    local_hub.stage(9.7, T0)
    value, _ = sign_in(local_hub, Role.OFFICER)
    cookie = {"Cookie": f"{COOKIE}={value}"}
    status, _, _, body = request(local_hub, "GET", "/api/alerts?active=true", headers=cookie)
    assert status == 200
    flood = next(a for a in json.loads(body)["alerts"] if a["rule"] == "flood_level")
    assert json.loads(request(local_hub, "GET", "/api/session", headers=cookie)[3]) == {
        "signed_in": True,
        "name": "officer-1",
        "role": "officer",
    }
    # A change made with the cookie alone (what a forged cross-site form could send) is refused...
    ack = f"/api/alerts/{flood['id']}/ack"
    status, _, _, body = request(local_hub, "POST", ack, {"comment": "x"}, cookie)
    assert status == 403 and b"X-Requested-With" in body
    # ...and accepted with the page's header; the audit trail names the cookie's holder.
    status, _, _, body = request(local_hub, "POST", ack, {"comment": "x"}, {**cookie, "X-Requested-With": "iocgw"})
    assert status == 200 and json.loads(body)["acked_by"] == "officer-1"
    # A viewer's cookie carries a viewer's rights only.
    viewer, _ = sign_in(local_hub, Role.VIEWER)
    headers = {"Cookie": f"{COOKIE}={viewer}", "X-Requested-With": "iocgw"}
    assert request(local_hub, "POST", ack, {"comment": "x"}, headers)[0] == 403
    # Tampered: refused. Signed out: the same cookie, replayed, is refused too.
    body_part, sig = value.split(".")
    assert request(local_hub, "GET", "/api/alerts", headers={"Cookie": f"{COOKIE}={body_part}.{sig[::-1]}"})[0] == 401
    status, _, cookies, _ = request(local_hub, "DELETE", "/api/session", headers=cookie)
    assert status == 200 and cookies and "Max-Age=0" in cookies[0]
    assert request(local_hub, "GET", "/api/alerts", headers=cookie)[0] == 401
    assert json.loads(request(local_hub, "GET", "/api/session", headers=cookie)[3]) == {
        "signed_in": False,
        "name": None,
        "role": None,
    }


def test_sessions_expire_outlive_a_restart_and_end_with_their_token(tmp_path):
    auth = ApiSettings.model_validate(api_section())
    key = load_session_key(tmp_path / "console-session.key")
    assert (tmp_path / "console-session.key").stat().st_mode & 0o777 == 0o600
    officer = auth.lookup(TOKENS[Role.OFFICER])
    assert officer is not None
    value, expires = SessionCookies(key, ConsoleSettings(session_hours=1)).issue(officer, now=1_000_000)
    assert expires == 1_000_000 + 3600
    # The hub restarted: the same key file, a new SessionCookies, the cookie still works until it expires.
    again = SessionCookies(load_session_key(tmp_path / "console-session.key"))
    assert again.holder(value, auth, now=1_000_000 + 3599) == officer
    assert again.holder(value, auth, now=1_000_000 + 3600) is None
    # Another hub's key (or a lost key file): refused.
    assert SessionCookies(load_session_key(tmp_path / "other.key")).holder(value, auth, now=1_000_001) is None
    # The token is rotated in the config (same holder, new hash): its sessions end with it.
    rotated = api_section()
    rotated["tokens"] = [t for t in rotated["tokens"] if t["name"] != "officer-1"]
    rotated["tokens"].append({"name": "officer-1", "role": "officer", "token_sha256": "0" * 64})
    assert again.holder(value, ApiSettings.model_validate(rotated), now=1_000_001) is None


@contextmanager
def event_stream(hub: LocalHub, headers: dict[str, str]) -> Iterator[http.client.HTTPResponse]:
    conn = http.client.HTTPConnection("127.0.0.1", hub.server.port, timeout=10)
    try:
        conn.request("GET", "/api/events", headers=headers)
        resp = conn.getresponse()
        assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/event-stream")
        yield resp
    finally:
        conn.close()


def next_event(resp: http.client.HTTPResponse) -> dict[str, str]:
    """The next event's fields (comments and the retry line skipped); the socket's timeout bounds the wait."""
    fields: dict[str, str] = {}
    while True:
        line = resp.readline().decode("utf-8").rstrip("\n")
        if not line:
            if "event" in fields:
                return fields
            fields = {}
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(": ")
        fields[name] = value


def test_alarm_changes_are_pushed_to_open_streams(local_hub):
    value, _ = sign_in(local_hub, Role.VIEWER)
    bearer = {"Authorization": f"Bearer {TOKENS[Role.VIEWER]}"}
    with (
        event_stream(local_hub, {"Cookie": f"{COOKIE}={value}"}) as cookie_stream,
        event_stream(local_hub, bearer) as bearer_stream,
    ):
        assert local_hub.server.app[FEED].open_streams == 2
        local_hub.stage(9.7, T0)  # BĐ1 at Long Biên: the flood alarm and Hà Nội's risk level
        alerts = {a["rule"]: a["id"] for a in local_hub.client(Role.VIEWER).get("/api/alerts").body["alerts"]}
        for stream in (cookie_stream, bearer_stream):
            event = next_event(stream)
            assert event["event"] == "alerts"
            data = json.loads(event["data"])
            assert set(data["ids"]) == {alerts["flood_level"], alerts["disaster_risk"]}
            assert event["id"] == str(data["seq"])
        # An acknowledgement is a change too.
        ack = local_hub.client(Role.OFFICER).post(f"/api/alerts/{alerts['flood_level']}/ack", {"comment": "đã xem"})
        assert ack.status == 200
        assert json.loads(next_event(cookie_stream)["data"])["ids"] == [alerts["flood_level"]]
    # Without credentials: no stream.
    status, _, _, _ = request(local_hub, "GET", "/api/events")
    assert status == 401


# -- in the browser ----------------------------------------------------------------------------------------------


@contextmanager
def browser_page(tmp_path: Path, url: str) -> Iterator[tuple[Page, list[str]]]:

    with chromium_page(tmp_path / "chromium-profile") as (page, problems):
        page.goto(url)
        yield page, problems


@pytest.mark.skipif(not CHROMIUM.exists(), reason=MISSING)
def test_a_shared_link_asks_for_sign_in_then_opens_its_view_and_alarms_arrive_by_push(local_hub, tmp_path):
    from playwright.sync_api import expect

    # Polling every 10 minutes: an alarm that shows up within the test's wait came by push.
    with browser_page(tmp_path, f"{local_hub.base}/?refresh_ms=600000#nodes") as (page, problems):
        expect(page.locator("#login")).to_be_visible()
        page.fill("#token", TOKENS[Role.OFFICER])
        page.click("#login-form button")
        expect(page.locator("#views a[data-view=nodes]")).to_have_attribute("aria-current", "page")
        expect(page.locator("#view-nodes")).to_be_visible()
        expect(page.locator("#view-alerts")).to_be_hidden()
        assert page.evaluate("document.cookie") == ""  # HttpOnly: no script on the page can read the session
        assert page.evaluate("sessionStorage.length + localStorage.length") == 0  # nor is the token kept anywhere

        page.click("#views a[data-view=alerts]")
        expect(page.locator("#empty")).to_be_visible()
        local_hub.stage(9.7, T0)
        expect(page.locator("#alerts tbody tr")).to_have_count(2)

        # A reload (or the same link opened later in this browser) needs no sign-in until the cookie expires.
        page.reload()
        expect(page.locator("#who-name")).to_have_text("officer-1 (officer)")
        expect(page.locator("#alerts tbody tr")).to_have_count(2)
        page.click("#sign-out")
        expect(page.locator("#login")).to_be_visible()
        page.reload()
        expect(page.locator("#login")).to_be_visible()
    assert problems == [], "no console errors"


@pytest.mark.skipif(not CHROMIUM.exists(), reason=MISSING)
def test_the_wall_display_has_large_type_and_no_controls(local_hub, tmp_path):
    from playwright.sync_api import expect

    local_hub.stage(9.7, T0)
    with browser_page(tmp_path, f"{local_hub.base}/?wall=1") as (page, problems):
        page.fill("#token", TOKENS[Role.OFFICER])
        page.click("#login-form button")
        rows = page.locator("#alerts tbody tr")
        expect(rows).to_have_count(2)
        expect(page.locator("body")).to_have_class("wall")
        expect(rows.first.locator(".ack-button")).to_be_hidden()
        expect(page.locator("#sign-out")).to_be_hidden()
        expect(page.locator("#bulk")).to_be_hidden()
        size = page.evaluate("parseFloat(getComputedStyle(document.querySelector('#alerts td')).fontSize)")
        assert size >= 24  # readable across a control room (0.95 rem at 160 %: about 24 px; 15 px on a laptop)
    assert problems == []


@pytest.mark.skipif(not CHROMIUM.exists(), reason=MISSING)
def test_on_a_phone_each_alarm_is_a_card_with_labelled_lines_and_nothing_scrolls_sideways(local_hub, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    local_hub.stage(9.7, T0)
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
        try:
            page = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True).new_page()
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.goto(f"{local_hub.base}/")
            page.fill("#token", TOKENS[Role.OFFICER])
            page.click("#login-form button")
            rows = page.locator("#alerts tbody tr")
            expect(rows).to_have_count(2)
            expect(page.locator("#alerts thead")).to_be_hidden()
            place = rows.first.locator("td").nth(3)
            assert place.get_attribute("data-label") == "Khu vực"
            # The label is drawn before the value (CSS ::before), so the phone shows "Khu vực: Thành phố Hà Nội".
            label = place.evaluate("td => getComputedStyle(td, '::before').content")
            assert label == '"Khu vực: "'
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        finally:
            browser.close()
    assert problems == []
