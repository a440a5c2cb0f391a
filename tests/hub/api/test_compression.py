"""Text answers are gzipped when the browser accepts it: the console's transfer budget rests on it."""

from __future__ import annotations

import gzip
import http.client

from hub.api.auth import Role
from hub.api.web import WEB_DIR
from tests.hub.api.support import TOKENS, LocalHub


def get(hub: LocalHub, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", hub.server.port, timeout=10)
    try:
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        # A stream never ends: its headers are the answer.
        body = b"" if resp.getheader("Content-Type", "").startswith("text/event-stream") else resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body
    finally:
        conn.close()


def test_text_is_gzipped_when_accepted_and_never_a_stream_or_a_small_answer(local_hub):
    leaflet = (WEB_DIR / "vendor/leaflet/leaflet.js").read_bytes()
    status, headers, body = get(local_hub, "/web/vendor/leaflet/leaflet.js", {"Accept-Encoding": "gzip, br"})
    assert status == 200 and headers["content-encoding"] == "gzip" and "Accept-Encoding" in headers["vary"]
    assert gzip.decompress(body) == leaflet and len(body) < len(leaflet) / 2
    # Not accepted (or refused with q=0): sent as it is.
    for accept in ("identity", "gzip;q=0"):
        status, headers, body = get(local_hub, "/web/vendor/leaflet/leaflet.js", {"Accept-Encoding": accept})
        assert "content-encoding" not in headers and body == leaflet
    auth = {"Authorization": f"Bearer {TOKENS[Role.VIEWER]}", "Accept-Encoding": "gzip"}
    # JSON from the API too, once it is worth it; a tiny answer is left alone.
    local_hub.stage(9.7)
    status, headers, body = get(local_hub, "/api/alerts", auth)
    assert status == 200 and headers["content-encoding"] == "gzip" and gzip.decompress(body).startswith(b"{")
    status, headers, _ = get(local_hub, "/api/whoami", auth)
    assert status == 200 and "content-encoding" not in headers
    # The event stream is sent as it happens, never buffered into a compressor.
    status, headers, _ = get(local_hub, "/api/events", auth)
    assert status == 200 and "content-encoding" not in headers
