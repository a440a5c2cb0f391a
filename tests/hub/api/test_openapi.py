"""The OpenAPI description covers every route the app serves, and nothing else; its references resolve."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hub.api.app import ROUTES
from hub.api.auth import Role
from hub.api.openapi import documented


def served(app: web.Application) -> set[tuple[str, str]]:
    out = set()
    for route in app.router.routes():
        if route.method == "HEAD":  # aiohttp adds HEAD beside each GET
            continue
        info = route.resource.get_info() if route.resource is not None else {}
        out.add((route.method.lower(), info.get("path") or info.get("formatter")))
    return out


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return ([node["$ref"]] if "$ref" in node else []) + [r for v in node.values() for r in refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in refs(v)]
    return []


def test_every_route_is_described_and_nothing_else(local_hub):
    doc = local_hub.client().get("/api/openapi.json").body
    described = {(method, path) for path, ops in doc["paths"].items() for method in ops}
    assert described == served(local_hub.server.app)
    assert doc["openapi"] == "3.1.0"


def test_references_resolve_and_guarded_operations_name_their_role(local_hub):
    doc = local_hub.client().get("/api/openapi.json").body
    schemas = doc["components"]["schemas"]
    for ref in refs(doc):
        assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in schemas, ref
    roles = {(r.method.lower(), documented(r.path)): r.role for r in local_hub.server.app[ROUTES]}
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            role = roles[(method, path)]
            if role is None:
                # Open routes ask for no credentials; only sign-in answers 401 (for a wrong token in its body).
                assert op["security"] == []
                assert "401" not in op["responses"] or (method, path) == ("post", "/api/session")
            else:
                assert op["security"] == [{"bearerAuth": []}] and op["x-required-role"] == role.value
                assert {"401", "403", "503"} <= set(op["responses"])
    assert roles[("put", "/api/thresholds/flood/{station_id}")] is Role.HYDROLOGY


def test_schemas_come_from_the_models(local_hub):
    doc = local_hub.client().get("/api/openapi.json").body
    put = doc["paths"]["/api/thresholds/flood/{station_id}"]["put"]
    body_ref = put["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    change = doc["components"]["schemas"][body_ref.rsplit("/", 1)[1]]
    assert set(change["required"]) == {"station", "comment"}
    station = doc["components"]["schemas"]["FloodStation"]
    assert {"bd1_m", "bd2_m", "bd3_m"} <= set(station["required"]) and station["additionalProperties"] is False
    params = {p["name"]: p for p in doc["paths"]["/api/alerts"]["get"]["parameters"]}
    assert set(params) == {"active", "rule", "area", "severity", "limit"}
    assert params["severity"]["explode"] is False
    assert {p["name"] for p in doc["paths"]["/api/alerts/{alarm_id}/ack"]["post"]["parameters"]} == {"alarm_id"}
