"""A local HTTP server that answers the part of Grafana's HTTP API `iocgw grafana push` uses, checks each request
against Grafana's documentation and keeps state, so a test can see what a real Grafana would hold.

Routes and rules follow grafana.com/docs/grafana/latest/developers/http_api/ (folder, data_source, dashboard,
alerting_provisioning): service-account tokens come as ``Authorization: Bearer``; a write carries JSON with the
documented required fields; ``POST /api/dashboards/db`` takes ``{dashboard, folderUid, overwrite, message}`` and,
without ``overwrite``, refuses to replace a dashboard with the same uid (412); alert rules name an existing folder
and data source and a condition among their queries' refIds. A request that breaks a rule is answered 400 with
the reason and recorded in ``violations``; provisioning writes without ``X-Disable-Provenance`` are recorded too
(Grafana accepts them, but then locks the objects against edits in its UI, which iocgw does not want).
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import threading
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

BODY = web.RequestKey("body", object)
RULE_REQUIRED = ("title", "folderUID", "ruleGroup", "condition", "data", "noDataState", "execErrState", "for", "orgID")


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeGrafana:
    token: str
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    datasources: dict[str, dict[str, Any]] = field(default_factory=dict)
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)  # uid -> {dashboard, folderUid}
    rules: dict[str, dict[str, Any]] = field(default_factory=dict)
    contact_points: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    refuse: dict[str, tuple[int, str]] = field(default_factory=dict)  # "METHOD /path" -> (status, message)

    def __post_init__(self) -> None:
        self._ids = itertools.count(1)
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    # -- life cycle ---------------------------------------------------------------------------------------------
    def start(self) -> FakeGrafana:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake Grafana did not start")
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(10)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._main())

    async def _main(self) -> None:
        self._stopping = asyncio.Event()
        app = web.Application(middlewares=[self._middleware])
        r = app.router
        r.add_get("/api/health", self._health)
        r.add_get("/api/folders/{uid}", self._get_folder)
        r.add_post("/api/folders", self._create_folder)
        r.add_put("/api/folders/{uid}", self._update_folder)
        r.add_get("/api/datasources/uid/{uid}", self._get_datasource)
        r.add_post("/api/datasources", self._create_datasource)
        r.add_put("/api/datasources/uid/{uid}", self._update_datasource)
        r.add_get("/api/dashboards/uid/{uid}", self._get_dashboard)
        r.add_post("/api/dashboards/db", self._save_dashboard)
        r.add_get("/api/v1/provisioning/alert-rules/{uid}", self._get_rule)
        r.add_post("/api/v1/provisioning/alert-rules", self._create_rule)
        r.add_put("/api/v1/provisioning/alert-rules/{uid}", self._update_rule)
        r.add_get("/api/v1/provisioning/contact-points", self._list_contact_points)
        r.add_post("/api/v1/provisioning/contact-points", self._create_contact_point)
        r.add_put("/api/v1/provisioning/contact-points/{uid}", self._update_contact_point)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        self._ready.set()
        await self._stopping.wait()
        await runner.cleanup()

    # -- what every request must satisfy ----------------------------------------------------------------------
    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        body = None
        if request.can_read_body:
            if request.content_type != "application/json":
                return self._bad(request, f"{request.method} {request.path}: body is {request.content_type}, not JSON")
            try:
                body = await request.json()
            except ValueError:
                return self._bad(request, f"{request.method} {request.path}: body is not valid JSON")
        self.requests.append(Request(request.method, request.path, dict(request.headers), body))
        if request.match_info.http_exception is not None:
            self.violations.append(f"{request.method} {request.path}: not a route of Grafana's HTTP API used here")
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"message": "Unauthorized"}, status=401)
        refused = self.refuse.get(f"{request.method} {request.path}")
        if refused:
            return web.json_response({"message": refused[1]}, status=refused[0])
        writes_provisioning = request.method in ("POST", "PUT") and "/provisioning/" in request.path
        if writes_provisioning and request.headers.get("X-Disable-Provenance") != "true":
            self.violations.append(f"{request.method} {request.path} without X-Disable-Provenance: true")
        request[BODY] = body
        return await handler(request)

    def _bad(self, request: web.Request, reason: str) -> web.Response:
        self.violations.append(reason)
        return web.json_response({"message": reason}, status=400)

    def _need(self, request: web.Request, body: Any, *keys: str) -> web.Response | None:
        if not isinstance(body, dict):
            return self._bad(request, f"{request.method} {request.path}: body must be a JSON object")
        missing = [k for k in keys if body.get(k) in (None, "")]
        return self._bad(request, f"{request.method} {request.path}: missing {missing}") if missing else None

    @staticmethod
    def _not_found(what: str) -> web.Response:
        return web.json_response({"message": f"{what} not found"}, status=404)

    def writes(self) -> list[Request]:
        return [r for r in self.requests if r.method != "GET"]

    # -- handlers ----------------------------------------------------------------------------------------------
    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"database": "ok", "version": "11.3.0"})

    async def _get_folder(self, request: web.Request) -> web.Response:
        f = self.folders.get(request.match_info["uid"])
        return web.json_response(f) if f else self._not_found("folder")

    async def _create_folder(self, request: web.Request) -> web.Response:
        body = request[BODY]
        if bad := self._need(request, body, "title"):
            return bad
        uid = body.get("uid") or f"f{next(self._ids)}"
        if uid in self.folders:
            return web.json_response({"message": "a folder with the same uid already exists"}, status=409)
        self.folders[uid] = {"id": next(self._ids), "uid": uid, "title": body["title"], "version": 1}
        return web.json_response(self.folders[uid])

    async def _update_folder(self, request: web.Request) -> web.Response:
        body, uid = request[BODY], request.match_info["uid"]
        if bad := self._need(request, body, "title"):
            return bad
        if uid not in self.folders:
            return self._not_found("folder")
        f = self.folders[uid]
        if not body.get("overwrite") and body.get("version") != f["version"]:
            return web.json_response({"message": "the folder has been changed by someone else"}, status=412)
        f.update(title=body["title"], version=f["version"] + 1)
        return web.json_response(f)

    async def _get_datasource(self, request: web.Request) -> web.Response:
        ds = self.datasources.get(request.match_info["uid"])
        return web.json_response(ds) if ds else self._not_found("data source")

    async def _create_datasource(self, request: web.Request) -> web.Response:
        body = request[BODY]
        if bad := self._need(request, body, "name", "type", "access"):
            return bad
        if any(d["name"] == body["name"] for d in self.datasources.values()):
            return web.json_response({"message": "data source with the same name already exists"}, status=409)
        uid = body.get("uid") or f"ds{next(self._ids)}"
        stored = {"id": next(self._ids), "orgId": 1, "readOnly": False, "basicAuth": False, **body, "uid": uid}
        self.datasources[uid] = stored
        return web.json_response({"datasource": stored, "id": stored["id"], "message": "Datasource added"})

    async def _update_datasource(self, request: web.Request) -> web.Response:
        body, uid = request[BODY], request.match_info["uid"]
        if bad := self._need(request, body, "name", "type", "access"):
            return bad
        if uid not in self.datasources:
            return self._not_found("data source")
        self.datasources[uid] = {**self.datasources[uid], **body, "uid": uid}
        return web.json_response({"datasource": self.datasources[uid], "message": "Datasource updated"})

    async def _get_dashboard(self, request: web.Request) -> web.Response:
        d = self.dashboards.get(request.match_info["uid"])
        if d is None:
            return self._not_found("Dashboard")
        meta = {"folderUid": d["folderUid"], "provisioned": False, "version": d["dashboard"]["version"]}
        return web.json_response({"dashboard": d["dashboard"], "meta": meta})

    async def _save_dashboard(self, request: web.Request) -> web.Response:
        body = request[BODY]
        if bad := self._need(request, body, "dashboard"):
            return bad
        dash = body["dashboard"]
        if bad := self._need(request, dash, "uid", "title"):
            return bad
        folder = body.get("folderUid")
        if folder is not None and folder not in self.folders:
            return self._bad(request, f"POST /api/dashboards/db: folderUid {folder!r} does not exist")
        uid = dash["uid"]
        current = self.dashboards.get(uid)
        if current is not None and body.get("overwrite") is not True:
            return web.json_response({"message": "The dashboard has been changed by someone else"}, status=412)
        version = current["dashboard"]["version"] + 1 if current else 1
        dash_id = current["dashboard"]["id"] if current else next(self._ids)
        stored = {**copy.deepcopy(dash), "id": dash_id, "version": version}
        self.dashboards[uid] = {"dashboard": stored, "folderUid": folder, "message": body.get("message")}
        return web.json_response({"id": dash_id, "uid": uid, "status": "success", "version": version})

    def _check_rule(self, request: web.Request, body: Any) -> web.Response | None:
        if bad := self._need(request, body, *RULE_REQUIRED):
            return bad
        if body["folderUID"] not in self.folders:
            return self._bad(request, f"alert rule {body.get('uid')}: folder {body['folderUID']!r} does not exist")
        refs = [q.get("refId") for q in body["data"]]
        if body["condition"] not in refs:
            return self._bad(request, f"alert rule {body.get('uid')}: condition {body['condition']!r} not in {refs}")
        for q in body["data"]:
            ds = q.get("datasourceUid")
            if ds != "__expr__" and ds not in self.datasources:
                return self._bad(request, f"alert rule {body.get('uid')}: data source {ds!r} does not exist")
        receiver = (body.get("notification_settings") or {}).get("receiver")
        if receiver and not any(c["name"] == receiver for c in self.contact_points.values()):
            return self._bad(request, f"alert rule {body.get('uid')}: contact point {receiver!r} does not exist")
        return None

    def _stored_rule(self, request: web.Request, body: dict[str, Any], rule_id: int) -> dict[str, Any]:
        provenance = "" if request.headers.get("X-Disable-Provenance") == "true" else "api"
        return {**copy.deepcopy(body), "id": rule_id, "provenance": provenance, "isPaused": False}

    async def _get_rule(self, request: web.Request) -> web.Response:
        rule = self.rules.get(request.match_info["uid"])
        return web.json_response(rule) if rule else self._not_found("alert rule")

    async def _create_rule(self, request: web.Request) -> web.Response:
        body = request[BODY]
        if bad := self._check_rule(request, body):
            return bad
        uid = body.get("uid") or f"r{next(self._ids)}"
        if uid in self.rules:
            return self._bad(request, f"alert rule {uid} already exists")
        self.rules[uid] = self._stored_rule(request, {**body, "uid": uid}, next(self._ids))
        return web.json_response(self.rules[uid], status=201)

    async def _update_rule(self, request: web.Request) -> web.Response:
        body, uid = request[BODY], request.match_info["uid"]
        if bad := self._check_rule(request, body):
            return bad
        if uid not in self.rules:
            return self._not_found("alert rule")
        self.rules[uid] = self._stored_rule(request, {**body, "uid": uid}, self.rules[uid]["id"])
        return web.json_response(self.rules[uid])

    async def _list_contact_points(self, request: web.Request) -> web.Response:
        name = request.query.get("name")
        return web.json_response([c for c in self.contact_points.values() if name in (None, c["name"])])

    async def _create_contact_point(self, request: web.Request) -> web.Response:
        body = request[BODY]
        if bad := self._need(request, body, "name", "type", "settings"):
            return bad
        uid = body.get("uid") or f"cp{next(self._ids)}"
        if uid in self.contact_points:
            return self._bad(request, f"contact point {uid} already exists")
        self.contact_points[uid] = {**copy.deepcopy(body), "uid": uid}
        return web.json_response(self.contact_points[uid], status=202)

    async def _update_contact_point(self, request: web.Request) -> web.Response:
        body, uid = request[BODY], request.match_info["uid"]
        if bad := self._need(request, body, "name", "type", "settings"):
            return bad
        if uid not in self.contact_points:
            return self._not_found("contact point")
        self.contact_points[uid] = {**copy.deepcopy(body), "uid": uid}
        return web.json_response(self.contact_points[uid], status=202)
