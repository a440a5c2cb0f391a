"""The OpenAPI 3.1 document, generated from the route list and the pydantic models."""

from __future__ import annotations

import re
from importlib import metadata
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from hub.api.models import ErrorBody
from hub.api.routes import Route

AUTH_ERRORS = {
    401: "No token, or not a valid one",
    403: "The token's role is too low for this",
    503: "The API has no tokens configured (secure by default)",
}
ERRORS = {404: "Not found", 409: "Changed by someone else since you read it", 422: "Invalid request", **AUTH_ERRORS}


def _version() -> str:
    try:
        return metadata.version("iocgw")
    except metadata.PackageNotFoundError:
        return "0"


Mode = Literal["validation", "serialization"]


class _Schemas:
    """The JSON schema of every model the routes use (the document's components) and a reference to each."""

    def __init__(self, routes: list[Route]) -> None:
        wanted: list[tuple[type[BaseModel], Mode]] = [(ErrorBody, "serialization")]
        for r in routes:
            wanted += [(m, "validation") for m in (r.query, r.body) if m is not None]
            wanted += [(m, "serialization") for m in (r.response, *r.responses.values()) if m is not None]
        self.refs, top = models_json_schema(list(dict.fromkeys(wanted)), ref_template="#/components/schemas/{model}")
        self.defs: dict[str, Any] = top.get("$defs", {})

    def ref(self, model: type[BaseModel], mode: Mode) -> dict[str, Any]:
        return dict(self.refs[(model, mode)])

    def definition(self, model: type[BaseModel], mode: Mode) -> dict[str, Any]:
        return self.defs[self.refs[(model, mode)]["$ref"].rsplit("/", 1)[1]]

    def error(self, status: int, model: type[BaseModel] = ErrorBody) -> dict[str, Any]:
        return {
            "description": ERRORS.get(status, "Error"),
            "content": {"application/json": {"schema": self.ref(model, "serialization")}},
        }


def build(routes: list[Route]) -> dict[str, Any]:
    """An OpenAPI 3.1 document with one operation per route."""
    schemas = _Schemas(routes)
    paths: dict[str, dict[str, Any]] = {}
    for r in routes:
        paths.setdefault(documented(r.path), {})[r.method.lower()] = _operation(r, schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "iocgw hub: operator API",
            "version": _version(),
            "description": "Alerts, acknowledgements, thresholds with an audit trail, nodes. Roles: viewer < "
            "officer < hydrology < admin. See docs/api.md.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": schemas.defs,
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
        },
    }


def _operation(r: Route, schemas: _Schemas) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": _operation_id(r),
        "summary": r.summary,
        "tags": [r.tag],
        "parameters": _parameters(r, schemas),
        "responses": _responses(r, schemas),
        "security": [{"bearerAuth": []}] if r.role is not None else [],
    }
    if r.description:
        op["description"] = r.description
    if r.role is not None:
        op["x-required-role"] = r.role.value
    if r.body is not None:
        op["requestBody"] = {
            "required": not r.body_optional,
            "content": {"application/json": {"schema": schemas.ref(r.body, "validation")}},
        }
    return op


def _parameters(r: Route, schemas: _Schemas) -> list[dict[str, Any]]:
    params = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"{(\w+)}", documented(r.path))
    ]
    if r.query is None:
        return params
    # One parameter per field of the query model, described by the field's schema.
    spec = schemas.definition(r.query, "validation")
    for pname, pschema in spec.get("properties", {}).items():
        param: dict[str, Any] = {
            "name": pname,
            "in": "query",
            "required": pname in spec.get("required", []),
            "schema": pschema,
        }
        if "description" in pschema:
            param["description"] = pschema["description"]
        if _is_array(pschema):
            param.update(style="form", explode=False)  # comma-separated: ?severity=major,critical
        params.append(param)
    return params


def _responses(r: Route, schemas: _Schemas) -> dict[str, Any]:
    responses: dict[str, Any] = {"200": {"description": "OK", "content": _ok_content(r, schemas)}}
    statuses = (
        set(r.errors) | (set(AUTH_ERRORS) if r.role is not None else set()) | ({422} if r.body or r.query else set())
    )
    for status in sorted(statuses):
        responses[str(status)] = schemas.error(status)
    for status, model in r.responses.items():
        responses[str(status)] = schemas.error(status, model)
    return responses


def _ok_content(r: Route, schemas: _Schemas) -> dict[str, Any]:
    if r.response is not None:
        return {r.content_type: {"schema": schemas.ref(r.response, "serialization")}}
    if r.content_type.startswith("image/"):
        return {r.content_type: {"schema": {"type": "string", "contentMediaType": r.content_type}}}
    if r.content_type != "application/json":
        return {r.content_type: {"schema": {"type": "string"}}}
    return {"application/json": {"schema": {"type": "object"}}}


def _is_array(schema: dict[str, Any]) -> bool:
    if schema.get("type") == "array":
        return True
    return any(s.get("type") == "array" for s in schema.get("anyOf", []))


def _operation_id(r: Route) -> str:
    words = re.sub(r"[{}]", "", documented(r.path)).strip("/").replace("-", "_").split("/") or ["index"]
    return r.method.lower() + "_" + "_".join(w for w in words if w) if r.path != "/" else "get_page"


def documented(path: str) -> str:
    """aiohttp's ``{name:regex}`` as OpenAPI writes a path parameter: ``{name}``."""
    return re.sub(r"{(\w+):[^}]+}", r"{\1}", path)
