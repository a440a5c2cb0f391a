"""GET /api/snapshots/{node_id}/{camera}/{label}: the stored JPEG, for viewers and up."""

from __future__ import annotations

import urllib.error
import urllib.request

from hub.api.auth import Role
from tests.hub.api.support import TOKENS
from tests.hub.test_snapshots import tiny_jpeg

PATH = "/api/snapshots/cam-1/tower-1/smoke"


def get(base: str, path: str, headers: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
    """Raw bytes: the support Client reads every answer as text."""
    req = urllib.request.Request(base + path, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def test_stored_snapshot_is_served_as_jpeg_to_a_viewer(local_hub):
    jpeg = tiny_jpeg(5)
    snapshots = {("cam-1", "tower-1", "smoke"): (1_795_305_600.0, jpeg)}
    local_hub.state.persist(dead_letters=[], seen={}, statuses={}, sensor_values={}, dedupe={}, snapshots=snapshots)
    auth = {"Authorization": f"Bearer {TOKENS[Role.VIEWER]}"}

    status, body, headers = get(local_hub.base, PATH, auth)
    assert (status, body, headers["Content-Type"]) == (200, jpeg, "image/jpeg")
    assert headers["Last-Modified"] == "Sun, 22 Nov 2026 00:00:00 GMT"  # when the hub received it
    status, body, _ = get(local_hub.base, PATH, {**auth, "If-None-Match": headers["ETag"]})
    assert (status, body) == (304, b"")


def test_without_a_valid_token_401_and_missing_snapshot_404(local_hub):
    status, _, headers = get(local_hub.base, PATH, {})
    assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
    assert get(local_hub.base, PATH, {"Authorization": "Bearer nope"})[0] == 401
    viewer = local_hub.client(Role.VIEWER)
    missing = viewer.get("/api/snapshots/cam-1/tower-1/fire")
    assert missing.status == 404 and "no snapshot of cam-1/tower-1/fire" in missing.body["error"]


def test_openapi_documents_the_binary_answer(local_hub):
    doc = local_hub.client().get("/api/openapi.json").body
    op = doc["paths"]["/api/snapshots/{node_id}/{camera}/{label}"]["get"]
    assert op["responses"]["200"]["content"] == {
        "image/jpeg": {"schema": {"type": "string", "contentMediaType": "image/jpeg"}}
    }
    assert {"401", "403", "404", "503"} <= set(op["responses"]) and op["x-required-role"] == "viewer"
    assert {p["name"] for p in op["parameters"]} == {"node_id", "camera", "label"}
