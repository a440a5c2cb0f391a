"""Tokens and roles: 503 without auth configured, 401 without a good token, 403 below the route's role."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import yaml
from pydantic import ValidationError

from hub.api.app import ROUTES
from hub.api.auth import ApiSettings, Role, bearer, hash_token
from hub.api.routes import Route
from tests.hub.api.support import NAMES, TOKENS, Client, LocalHub


def concrete(path: str) -> str:
    return re.sub(r"{\w+}", "x", path)


def guarded(hub: LocalHub) -> list[Route]:
    return [r for r in hub.server.app[ROUTES] if r.role is not None]


def test_without_auth_configured_every_api_route_answers_503_and_says_why(tmp_path):
    hub = LocalHub(tmp_path, auth=None)
    try:
        for route in guarded(hub):
            reply = hub.client(Role.ADMIN).call(route.method, concrete(route.path), {} if route.body else None)
            assert reply.status == 503, route.path
            assert "tokens" in reply.body["error"] and "docs/api.md" in reply.body["error"]
        # Monitoring, the page and the API description stay open.
        for path in ("/healthz", "/metrics", "/", "/web/app.js", "/api/openapi.json"):
            assert hub.client().get(path).status == 200, path
    finally:
        hub.close()


@pytest.mark.parametrize(
    "header",
    [None, "Bearer wrong-token", "Bearer ", f"Basic {TOKENS[Role.ADMIN]}", TOKENS[Role.ADMIN]],
    ids=["none", "wrong", "empty", "basic", "no-scheme"],
)
def test_missing_or_bad_token_is_401(local_hub, header):
    reply = Client(local_hub.base).call(
        "GET", "/api/alerts", headers={} if header is None else {"Authorization": header}
    )
    assert reply.status == 401
    assert reply.headers["WWW-Authenticate"].startswith("Bearer")


def test_each_role_reaches_exactly_its_routes(local_hub):
    for route in guarded(local_hub):
        assert route.role is not None
        for role in Role:
            body = {} if route.body else None
            reply = local_hub.client(role).call(route.method, concrete(route.path), body)
            if role.allows(route.role):
                assert reply.status not in (401, 403), (route.method, route.path, role)
            else:
                assert reply.status == 403, (route.method, route.path, role)
                assert route.role.value in reply.body["error"] and NAMES[role] in reply.body["error"]


def test_roles_are_ordered_viewer_officer_hydrology_admin():
    assert [r.value for r in sorted(Role, key=lambda r: r.rank)] == ["viewer", "officer", "hydrology", "admin"]
    assert Role.HYDROLOGY.allows(Role.OFFICER) and not Role.OFFICER.allows(Role.HYDROLOGY)


def test_whoami_names_the_holder_and_what_the_role_may_do(local_hub):
    body = local_hub.client(Role.OFFICER).get("/api/whoami").body
    assert body == {"name": "officer-1", "role": "officer", "may": ["read", "acknowledge"], "warnings": False}


def test_settings_keep_only_hashes_and_refuse_duplicates():
    assert hash_token("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    one = {"name": "trực ban 1", "role": "officer", "token_sha256": hash_token("a")}
    assert ApiSettings.model_validate({"tokens": [one]}).lookup("a").name == "trực ban 1"  # type: ignore[union-attr]
    assert ApiSettings.model_validate({"tokens": [one]}).lookup("b") is None
    bad = [
        {"tokens": []},
        {"tokens": [{**one, "token_sha256": "A" * 64}]},  # upper case: not what hash_token gives
        {"tokens": [{**one, "token": "a"}]},  # a plain token field is refused, never silently ignored
        {"tokens": [one, {**one, "token_sha256": hash_token("c")}]},  # same name twice
        {"tokens": [one, {**one, "name": "other"}]},  # same token twice
    ]
    for data in bad:
        with pytest.raises(ValidationError):
            ApiSettings.model_validate(data)
    assert bearer("bearer abc") == "abc" and bearer("Bearer") is None and bearer(None) is None


def test_new_token_command_prints_a_config_entry_that_accepts_the_token():
    out = subprocess.run(
        [sys.executable, "-m", "hub.api", "new-token", "--name", "ops-1", "--role", "officer"],
        capture_output=True,
        text=True,
        check=True,
    )
    token = out.stderr.rsplit(": ", 1)[1].strip()
    settings = ApiSettings.model_validate(yaml.safe_load(out.stdout)["api"])
    holder = settings.lookup(token)
    assert holder is not None and holder.name == "ops-1" and holder.role is Role.OFFICER
    hashed = subprocess.run(
        [sys.executable, "-m", "hub.api", "hash-token"], input=token + "\n", capture_output=True, text=True, check=True
    )
    assert hashed.stdout.strip() == hash_token(token)
