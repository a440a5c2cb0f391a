"""The hub's HTTP face: monitoring, the operator API and the operator page, on one aiohttp application."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from hub.alerts.engine import AlertEngine
from hub.alerts.threshold_overrides import RuleManager
from hub.api import alerts as alert_routes
from hub.api import cameras as camera_routes
from hub.api import events as event_routes
from hub.api import map_points as map_routes
from hub.api import node_config as node_config_routes
from hub.api import nodes as node_routes
from hub.api import openapi
from hub.api import public_page as public_routes
from hub.api import releases as release_routes
from hub.api import session as session_routes
from hub.api import situation as situation_routes
from hub.api import snapshots as snapshot_routes
from hub.api import thresholds as threshold_routes
from hub.api import warnings as warning_routes
from hub.api import web as page_routes
from hub.api.auth import ApiSettings
from hub.api.compression import compress
from hub.api.console_settings import ConsoleSettings
from hub.api.context import ApiContext, Health
from hub.api.engine_view import EngineView
from hub.api.routes import Call, Route, endpoint, json_errors
from hub.api.session_cookie import SessionCookies
from hub.metrics import Metrics
from hub.remote_config import NodeConfigs
from hub.store.influx_query import InfluxReader
from hub.store.state import HubState
from hub.warn.service import PublicWarnings

if TYPE_CHECKING:  # psycopg is loaded only in cluster mode
    from hub.alerts.pg_store import AlertStoreLike

ROUTES = web.AppKey("routes", list[Route])
FEED = web.AppKey("feed", event_routes.AlarmFeed)


def make_app(
    pipeline: Health,
    metrics: Metrics,
    state: HubState,
    offline_after_s: float,
    *,
    engine: AlertEngine | None = None,
    alerts: AlertStoreLike | None = None,
    rules: RuleManager | None = None,
    auth: ApiSettings | None = None,
    configs: NodeConfigs | None = None,
    models_dir: Path | None = None,
    store_io: Executor | None = None,
    warnings: PublicWarnings | None = None,
    console: ConsoleSettings | None = None,
    influx: Callable[[], InfluxReader] | None = None,
    session_key: bytes | None = None,
    cluster_engine: Callable[[], AlertEngine | None] | None = None,
    alarm_changes: Callable[[Callable[[list[str]], None]], object] | None = None,
    view: EngineView | None = None,
) -> web.Application:
    """``auth`` None refuses every /api route (503) but the API description; /healthz, /metrics and / stay open.

    ``store_io``: where handlers run their SQLite reads (``ApiContext.read``); None: ``asyncio.to_thread``.
    ``alarm_changes``: where the console's push hears of alarm changes when no engine runs here; called once with
    the feed's ``publish`` (cluster mode: hub.alerts.pg_alarm_feed.PgAlarmListener.subscribe).
    ``view``: what the console's views read of the engine; None: ``engine`` itself (cluster mode, where ``engine`` is
    None: hub.api.engine_view.ClusterEngineView over the API's alert reader and ``rules``)."""
    ctx = ApiContext(
        pipeline,
        metrics,
        state,
        offline_after_s,
        engine,
        alerts,
        rules,
        auth,
        configs,
        models_dir,
        store_io,
        warnings_enabled=warnings is not None,
        console=console or ConsoleSettings(),
        influx=influx,
        cluster_engine=cluster_engine,
        view=view,
        **({"session_key": session_key} if session_key is not None else {}),
    )
    sessions = SessionCookies(ctx.session_key, ctx.console)
    feed = event_routes.AlarmFeed()
    camera_relay = camera_routes.live_relay(ctx)
    if engine is not None:
        engine.listeners.append(feed.publish)
    if alarm_changes is not None:
        alarm_changes(feed.publish)
    routes = [
        *node_routes.routes(ctx),
        *node_config_routes.routes(ctx),
        *snapshot_routes.routes(ctx),
        *alert_routes.routes(ctx),
        *threshold_routes.routes(ctx),
        *release_routes.routes(ctx),
        *warning_routes.routes(ctx, warnings),
        *public_routes.routes(ctx),
        *session_routes.routes(ctx, sessions),
        *event_routes.routes(ctx, feed),
        *situation_routes.routes(ctx),
        *map_routes.routes(ctx),
        *camera_routes.routes(ctx, camera_relay),
        *page_routes.routes(ctx),
    ]
    document: dict[str, Any] = {}

    async def describe(call: Call) -> web.StreamResponse:
        if not document:  # built once, on first use: it is the same for the life of the app
            document.update(openapi.build(routes))
        return web.json_response(document)

    routes.append(Route("GET", "/api/openapi.json", describe, "This API description (OpenAPI 3.1)", None, "meta"))
    app = web.Application(middlewares=[json_errors, compress])

    async def end_streams(app: web.Application) -> None:
        # Open event streams and live views would otherwise hold the stop for aiohttp's shutdown timeout (60 s).
        feed.close_all()
        camera_relay.close_all()

    app.on_shutdown.append(end_streams)
    app[FEED] = feed
    for route in routes:
        if route.method == "GET":  # add_get also answers HEAD, as the hub always did for /healthz
            app.router.add_get(route.path, endpoint(route, auth, sessions))
        else:
            app.router.add_route(route.method, route.path, endpoint(route, auth, sessions))
    app[ROUTES] = routes
    return app
