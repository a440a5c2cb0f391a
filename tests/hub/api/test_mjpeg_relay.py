"""The live view relayed by the hub, against a real MJPEG camera behind Basic auth (simulators/camera/guarded.py):
frames arrive, the camera gets its credentials, and neither its address nor its login reaches a client or a log."""

from __future__ import annotations

import base64
import http.client
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from hub.api.auth import ApiSettings, Role
from hub.api.console_settings import ConsoleSettings, LiveCamera
from hub.api.mjpeg_relay import LiveRelay
from hub.secret import Secret
from simulators.camera.guarded import GuardedCamera
from tests.hub.api.support import TOKENS, LocalHub, ServerThread, api_section
from tests.support.wait import wait_until

USER = "cam-admin-7f3e"
PASSWORD = "pw-9c1b-never-shown"
SOI = b"\xff\xd8\xff"  # a JPEG's start
LIVE = "/api/cameras/cam-node-1/thap-1/live"


@pytest.fixture
def camera() -> Iterator[GuardedCamera]:
    cam = GuardedCamera(USER, PASSWORD).start()
    yield cam
    cam.stop()


def hub_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, password: str = PASSWORD, **limits) -> LocalHub:
    monkeypatch.setenv("IOCGW_TEST_CAMERA_PASSWORD", password)
    live = LiveCamera(
        node_id="cam-node-1",
        camera="thap-1",
        name="Tháp canh 1",
        mjpeg_url=url,
        username=USER,
        password=Secret(env="IOCGW_TEST_CAMERA_PASSWORD"),
    )
    console = ConsoleSettings(cameras=[live], **limits)
    return LocalHub(
        tmp_path, auth=ApiSettings.model_validate(api_section()), alerts=False, app_options={"console": console}
    )


def secrets_of(camera: GuardedCamera) -> list[str]:
    """What must never leave the hub: the login, the Basic header, the camera's address in any form."""
    basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    return [USER, PASSWORD, basic, f":{camera.port}", "/mjpeg"]


def open_live(hub: LocalHub, token: str | None = TOKENS[Role.VIEWER]) -> tuple[http.client.HTTPConnection, object]:
    conn = http.client.HTTPConnection("127.0.0.1", hub.server.port, timeout=10)
    conn.request("GET", LIVE, headers={"Authorization": f"Bearer {token}"} if token else {})
    return conn, conn.getresponse()


def read_frames(resp, n: int) -> bytes:
    """Reads until ``n`` JPEGs (start-of-image markers) have arrived."""
    data = b""
    while data.count(SOI) < n:
        chunk = resp.read1(65536)
        assert chunk, f"the stream ended after {data.count(SOI)} frames"
        data += chunk
    return data


def assert_hidden(camera: GuardedCamera, *texts: str) -> None:
    for text in texts:
        for secret in secrets_of(camera):
            assert secret not in text, f"{secret!r} leaked in {text[:300]!r}"


def test_frames_arrive_with_the_cameras_credentials_sent_upstream_only(tmp_path, monkeypatch, camera, caplog):
    caplog.set_level(logging.DEBUG)
    hub = hub_for(tmp_path, monkeypatch, camera.url, live_max_viewers=1)
    try:
        conn, resp = open_live(hub)
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("multipart/x-mixed-replace; boundary=")
        frames = read_frames(resp, 3)
        assert b"Content-Type: image/jpeg" in frames
        # The camera was asked with its own login, which the browser never had.
        assert camera.authorizations == ["Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()]
        assert_hidden(camera, str(resp.headers))

        # The list says a live view exists, and nothing of where it comes from.
        listing = hub.client(Role.VIEWER).get("/api/cameras")
        (cam,) = listing.body["cameras"]
        assert (cam["node_id"], cam["camera"], cam["name"], cam["live"]) == (
            "cam-node-1",
            "thap-1",
            "Tháp canh 1",
            True,
        )
        assert listing.body["events"] is False  # no InfluxDB here: the list comes from the config alone
        assert_hidden(camera, str(listing.body), str(listing.headers))
        described = hub.client(None).get("/api/openapi.json")
        assert LIVE.replace("cam-node-1/thap-1", "{node_id}/{camera}") in described.body["paths"]

        # One view at a time here: a second is refused while the first is open, in words that name nothing.
        refused = hub.client(Role.VIEWER).get(LIVE)
        assert refused.status == 429
        assert_hidden(camera, str(refused.body), str(refused.headers))

        # The officer leaves: the hub closes the camera's connection, and the view's place is free again.
        conn.close()
        wait_until(lambda: camera.open_streams == 0 and camera.closed_streams == 1, what="the camera's stream closed")
        conn2, resp2 = open_live(hub)
        assert resp2.status == 200
        read_frames(resp2, 1)
        conn2.close()
        wait_until(lambda: camera.closed_streams == 2, what="the second stream closed")
    finally:
        hub.close()
    assert_hidden(camera, caplog.text)
    assert "live view of cam-node-1/thap-1 ended: the viewer left" in caplog.text


def test_a_camera_that_goes_away_ends_the_view_cleanly(tmp_path, monkeypatch, camera):
    hub = hub_for(tmp_path, monkeypatch, camera.url)
    try:
        conn, resp = open_live(hub)
        read_frames(resp, 1)
        camera.end_streams()
        rest = resp.read()  # the whole chunked body to its last chunk: http.client raises on a truncated one
        assert resp.isclosed() and rest is not None
        conn.close()
    finally:
        hub.close()


def test_a_view_ends_after_its_time_and_head_opens_nothing(tmp_path, monkeypatch, camera):
    hub = hub_for(tmp_path, monkeypatch, camera.url, live_max_s=0.5)
    try:
        # HEAD says a view exists without contacting the camera.
        head = hub.client(Role.VIEWER).call("HEAD", LIVE)
        assert head.status == 200 and head.headers["Content-Type"].startswith("multipart/x-mixed-replace")
        assert camera.authorizations == []
        conn, resp = open_live(hub)
        body = resp.read()  # ends by itself, cleanly, while the camera would go on
        assert body.count(SOI) >= 1 and resp.isclosed()
        conn.close()
        wait_until(lambda: camera.closed_streams == 1, what="the camera's stream closed")
    finally:
        hub.close()


def test_close_all_ends_open_views_for_a_prompt_shutdown(camera):
    # The relay in an app of its own (hub/api/app.py calls close_all from its on_shutdown); the login is in the URL
    # this time, which the relay must send as Basic auth and not as part of the URL.
    relay = LiveRelay(max_viewers=2, max_s=600)
    url = camera.url.replace("://", f"://{USER}:{PASSWORD}@")
    source = LiveCamera(node_id="n", camera="c", mjpeg_url=url)

    async def view(request: web.Request) -> web.StreamResponse:
        return await relay.relay(request, source)

    app = web.Application()
    app.router.add_get("/live", view)
    server = ServerThread(app).start()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.request("GET", "/live")
        resp = conn.getresponse()
        read_frames(resp, 1)
        server.loop.call_soon_threadsafe(relay.close_all)
        resp.read()  # the view ends, cleanly (http.client raises on a truncated chunked body)
        wait_until(lambda: camera.open_streams == 0 and relay.viewers == 0, what="the view ended at both ends")
        assert camera.authorizations == ["Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()]
        conn.close()
    finally:
        server.stop()


def test_refusals_name_neither_the_camera_nor_its_login(tmp_path, monkeypatch, camera, caplog):
    caplog.set_level(logging.DEBUG)
    hub = hub_for(tmp_path, monkeypatch, camera.url, password="a-wrong-password")
    try:
        viewer = hub.client(Role.VIEWER)
        # The camera refuses a wrong password; the hub says so without repeating anything of it.
        wrong = viewer.get(LIVE)
        assert wrong.status == 502 and wrong.body["error"] == "the camera refused the hub's credentials"
        assert camera.authorizations == ["Basic " + base64.b64encode(f"{USER}:a-wrong-password".encode()).decode()]
        assert camera.open_streams == 0
        assert_hidden(camera, str(wrong.body), str(wrong.headers), "a-wrong-password")
        # No token, no stream (and no request to the camera).
        assert hub.client(None).get(LIVE).status == 401
        assert len(camera.authorizations) == 1
        # A camera with no live source configured.
        missing = viewer.get("/api/cameras/cam-node-1/thap-2/live")
        assert missing.status == 404
    finally:
        hub.close()
    assert "a-wrong-password" not in caplog.text
    assert_hidden(camera, caplog.text)


def test_an_unreachable_camera_is_a_502_that_names_no_address(tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    gone = GuardedCamera(USER, PASSWORD, frames=1).start()
    url = gone.url
    gone.stop()  # its port is closed now: connection refused
    hub = hub_for(tmp_path, monkeypatch, url)
    try:
        reply = hub.client(Role.VIEWER).get(LIVE)
        assert reply.status == 502 and reply.body["error"] == "the camera could not be reached"
        assert_hidden(gone, str(reply.body), str(reply.headers))
    finally:
        hub.close()
    assert_hidden(gone, caplog.text)


def test_a_camera_that_never_answers_is_a_504_after_the_connect_timeout(tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    # A listening socket nobody serves: the TCP connection is made (by the kernel), no HTTP answer ever comes.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        port = silent.getsockname()[1]
        hub = hub_for(tmp_path, monkeypatch, f"http://127.0.0.1:{port}/mjpeg")
        try:
            reply = hub.client(Role.VIEWER).get(LIVE)
            assert reply.status == 504 and reply.body["error"] == "the camera did not answer in time"
            assert str(port) not in str(reply.body) + str(reply.headers) + caplog.text
            assert "live view of cam-node-1/thap-1: the camera did not answer within 5 s" in caplog.text
        finally:
            hub.close()
