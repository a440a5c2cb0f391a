"""Cluster mode's console views (issue 17): what the situation views and the map read of the engine comes from
PostgreSQL on every hub (hub/api/engine_view.py ClusterEngineView), and a release plan is recorded through the
leader's engine. Real PostgreSQL, real engines, the API served over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hub.alerts.alarm import Alarm, Condition, Transition, apply_condition
from hub.alerts.cluster import FencedStore
from hub.alerts.config import AlertsConfig, load_rule_tables
from hub.alerts.engine import AlertEngine
from hub.alerts.evaluate.base import Observation
from hub.alerts.leader import AlertLeadership
from hub.alerts.pg_store import PgAlertStore
from hub.alerts.pg_threshold_store import PgThresholdStore
from hub.alerts.rules.flood_levels import FloodStation
from hub.alerts.store import AlertStore
from hub.alerts.threshold_overrides import RuleManager, ThresholdStore
from hub.api.app import make_app
from hub.api.auth import ApiSettings, Role
from hub.api.engine_view import ClusterEngineView, EngineView, LocalEngineView
from hub.metrics import Metrics
from hub.store.state import HubState, NodeInfo
from tests.hub.api.support import Client, Pipeline, ServerThread, api_section
from tests.hub.api.test_console_situation import alerts_config

T0 = datetime(2026, 10, 1, 3, 0, tzinfo=UTC)
NODES = [
    NodeInfo("river-kimlong-01", "Trạm Kim Long", "46", 16.4637, 107.5470),
    NodeInfo("reservoir-tatrach-01", "Hồ Tả Trạch", "46"),
    NodeInfo("wx-bachma-01", "Khí tượng Bạch Mã", "46"),
]
AREAS = {"river-kimlong-01": "46", "rain-aluoi-01": "46", "wx-bachma-01": "46"}
VIEWS = (
    "/api/situation/rivers",
    "/api/situation/rivers/huong-kim-long",
    "/api/situation/reservoirs",
    "/api/situation/fire",
    "/api/situation/rain",
    "/api/map",
)
PLAN = {"planned_open": "2030-01-02T08:00:00+07:00", "release_m3s": 1200, "comment": "lệnh vận hành số 7"}


def created(rule: str, subject: str, at: datetime, level: int = 1) -> tuple[Alarm, Transition]:
    alarm, transition = apply_condition(None, rule, subject, Condition(active=True, level=level), at, "46")
    assert alarm is not None and transition is not None
    return alarm, transition


# -- the view alone ----------------------------------------------------------------------------------------------
@dataclass
class ClusterSide:
    """What one hub of the cluster opens for its API: the alarms' reader, the shared overrides, the view."""

    reader: PgAlertStore
    rules: RuleManager
    view: ClusterEngineView

    @classmethod
    def open(cls, dsn: str, schema: str, config: AlertsConfig) -> ClusterSide:
        reader = PgAlertStore(dsn, schema=schema, application_name="iocgw-api", reopen_reads=True)
        rules = RuleManager(lambda: load_rule_tables(config), PgThresholdStore(dsn, schema=schema))
        return cls(reader, rules, ClusterEngineView(config, rules, reader))

    def close(self) -> None:
        self.reader.close()
        self.rules.store.close()


@pytest.fixture
def config(tmp_path: Path) -> AlertsConfig:
    return alerts_config(tmp_path / "rules")


def test_active_alarms_are_those_committed_oldest_first(pg_cluster, pg_schema, config):
    writer = PgAlertStore(pg_cluster.dsn, schema=pg_schema)
    hub = ClusterSide.open(pg_cluster.dsn, pg_schema, config)
    try:
        view: EngineView = hub.view
        assert view.active() == [] and view.releases() == {}
        later = created("heavy_rain", "mua-kim-long", T0 + timedelta(minutes=5))
        first = created("flood_level", "huong-kim-long", T0, level=2)
        gone = created("heavy_rain", "mua-a-luoi", T0 + timedelta(minutes=1))
        writer.commit([later, first, gone], {}, set())
        assert [a.id for a in view.active()] == [first[0].id, gone[0].id, later[0].id]
        cleared, transition = apply_condition(gone[0], "heavy_rain", "mua-a-luoi", Condition(active=False), T0, "46")
        assert cleared is not None and transition is Transition.CLEARED
        writer.commit([(cleared, transition)], {}, set())
        assert [(a.rule, a.subject, a.level) for a in view.active()] == [
            ("flood_level", "huong-kim-long", 2),
            ("heavy_rain", "mua-kim-long", 1),
        ]
    finally:
        writer.close()
        hub.close()


def test_releases_are_the_rule_state_the_leader_committed(pg_cluster, pg_schema, config):
    writer = PgAlertStore(pg_cluster.dsn, schema=pg_schema)
    hub = ClusterSide.open(pg_cluster.dsn, pg_schema, config)
    try:
        plan = {"open": "2030-01-02T01:00:00+00:00", "by": "hydrology-1", "release_m3s": 1200.0}
        writer.commit([], {"dam:releases": {"ta-trach": plan}, "engine:fire_levels": {"46": 3}}, set())
        assert hub.view.releases() == {"ta-trach": plan}
        writer.commit([], {"dam:releases": {"ta-trach": {**plan, "cancelled": True}}}, set())
        assert hub.view.releases()["ta-trach"]["cancelled"] is True
    finally:
        writer.close()
        hub.close()


def test_tables_are_the_shared_overrides_and_config_the_hubs_own(pg_cluster, pg_schema, config):
    here = ClusterSide.open(pg_cluster.dsn, pg_schema, config)
    there = ClusterSide.open(pg_cluster.dsn, pg_schema, config)
    try:
        assert here.view.config is config
        assert [g.gauge_id for g in here.view.config.rain_gauges] == ["mua-kim-long", "mua-a-luoi"]
        assert [a.area_id for a in here.view.config.fire_areas] == ["bach-ma"]
        flood = there.view.tables.flood
        assert flood is not None
        kim_long = flood.by_id()["huong-kim-long"]
        raised = FloodStation.model_validate({**kim_long.model_dump(), "bd1_m": 1.2})
        there.rules.change("flood", raised, who="hydrology-1", comment="đo lại mốc")
        here.rules.refresh()  # what the hub's threshold listener does on the notification
        tables = here.view.tables
        assert tables.flood is not None and tables.flood.by_id()["huong-kim-long"].thresholds[0] == 1.2
    finally:
        here.close()
        there.close()


# -- the API: one hub's engine against a cluster hub's view ------------------------------------------------------
class Api:
    """An app served over HTTP, with the hub's registry of its own (each hub of a cluster has its hub.db)."""

    def __init__(self, data: Path, **options: Any) -> None:
        self.state = HubState(data / "hub.db")
        self.state.register(NODES)
        app = make_app(
            Pipeline(), Metrics(), self.state, 300.0, auth=ApiSettings.model_validate(api_section()), **options
        )
        self.server = ServerThread(app).start()
        self.base = f"http://127.0.0.1:{self.server.port}"

    def client(self, role: Role = Role.VIEWER) -> Client:
        return Client(self.base).as_(role)

    def close(self) -> None:
        self.server.stop()
        self.state.close()


class SingleHub:
    """One hub as hub.service builds it without a cluster: the engine on SQLite, the engine as the view."""

    def __init__(self, tmp_path: Path, config: AlertsConfig) -> None:
        data = tmp_path / "single"
        self.rules = RuleManager(lambda: load_rule_tables(config), ThresholdStore(data / "alerts.db"))
        self.engine = AlertEngine(config, self.rules.current, AlertStore(data / "alerts.db"), areas=AREAS, intervals={})
        self.rules.bind(self.engine.load)
        self.reader = AlertStore(data / "alerts.db")
        self.api = Api(data, engine=self.engine, alerts=self.reader, rules=self.rules)

    def close(self) -> None:
        self.api.close()
        self.engine.store.close()
        self.rules.store.close()
        self.reader.close()


def observations() -> list[Observation]:
    """Kim Long above BĐ2 and 80 mm of rain there: a flood alarm and a heavy-rain alarm, both in area 46."""
    return [
        Observation("river-kimlong-01", "stage", "water_level", T0, 2.3),
        Observation("river-kimlong-01", "rain", "rainfall", T0, 80.0),
    ]


@pytest.fixture
def single(tmp_path: Path, config: AlertsConfig) -> Iterator[SingleHub]:
    hub = SingleHub(tmp_path, config)
    yield hub
    hub.close()


def test_situation_views_answer_the_same_through_the_cluster_view_as_through_the_engine(
    pg_cluster, pg_schema, config, tmp_path, single
):
    single.engine.process(observations(), now=T0)
    assert single.api.client(Role.HYDROLOGY).put("/api/reservoirs/ta-trach/release", PLAN).status == 200
    # What the leader of a cluster commits: the same alarms and rule state, in PostgreSQL.
    writer = PgAlertStore(pg_cluster.dsn, schema=pg_schema)
    writer.commit([(a, Transition.CREATED) for a in single.engine.active()], dict(single.engine.state), set())
    writer.close()
    side = ClusterSide.open(pg_cluster.dsn, pg_schema, config)
    standby = Api(
        tmp_path / "standby", alerts=side.reader, rules=side.rules, cluster_engine=lambda: None, view=side.view
    )
    try:
        one, cluster = single.api.client(), standby.client()
        for path in VIEWS:
            a, b = one.get(path), cluster.get(path)
            assert (a.status, b.status) == (200, 200), (path, a.body, b.body)
            assert b.body == a.body, path
        # What those answers hold, so that "the same" is not the same emptiness.
        (reservoir,) = cluster.get("/api/situation/reservoirs").body["reservoirs"]
        assert reservoir["release"]["release_m3s"] == 1200 and reservoir["release"]["by"] == "hydrology-1"
        rain = {g["gauge_id"]: g["alarm_level"] for g in cluster.get("/api/situation/rain").body["gauges"]}
        assert rain == {"mua-kim-long": 1, "mua-a-luoi": None}
        assert [a["area_id"] for a in cluster.get("/api/situation/fire").body["areas"]] == ["bach-ma"]
        points = {p["id"]: p for p in cluster.get("/api/map").body["points"]}
        assert points["station:huong-kim-long"]["level"]["rule"] == "flood_level"
        assert points["rain_gauge:mua-kim-long"]["level"]["rule"] == "heavy_rain"
        # A hub that does not lead records no plan: it says where to go, and nothing changed.
        refused = standby.client(Role.HYDROLOGY).put("/api/reservoirs/ta-trach/release", {"planned_open": None})
        assert refused.status == 503 and "record the release on the leader" in refused.body["error"]
        assert cluster.get("/api/situation/reservoirs").body == one.get("/api/situation/reservoirs").body
    finally:
        standby.close()
        side.close()


def test_a_release_planned_on_the_leader_is_on_every_hub_and_refused_once_it_no_longer_leads(
    pg_cluster, pg_schema, config, tmp_path
):
    leadership = AlertLeadership(pg_cluster.dsn, "hub-a", key=0x10C6_0017)
    leadership.start()
    store = PgAlertStore(pg_cluster.dsn, schema=pg_schema)
    leader_side = ClusterSide.open(pg_cluster.dsn, pg_schema, config)
    standby_side = ClusterSide.open(pg_cluster.dsn, pg_schema, config)
    leader: Api | None = None
    standby: Api | None = None
    try:
        assert leadership.wait_leading(True, timeout=15)
        # As hub.alerts.cluster builds the leader's engine: every commit fenced by the leadership.
        engine = AlertEngine(
            config,
            leader_side.rules.current,
            FencedStore(store, leadership.check),  # type: ignore[arg-type]  # AlertStoreLike
            areas=AREAS,
            intervals={},
        )
        leader = Api(
            tmp_path / "leader",
            alerts=leader_side.reader,
            rules=leader_side.rules,
            cluster_engine=lambda: engine,
            view=leader_side.view,
        )
        standby = Api(
            tmp_path / "standby",
            alerts=standby_side.reader,
            rules=standby_side.rules,
            cluster_engine=lambda: None,
            view=standby_side.view,
        )
        planner = leader.client(Role.HYDROLOGY)
        put = planner.put("/api/reservoirs/ta-trach/release", PLAN)
        assert put.status == 200, put.body
        assert planner.put("/api/reservoirs/no-such/release", PLAN).status == 404

        def release(api: Api) -> dict[str, Any] | None:
            (reservoir,) = api.client().get("/api/situation/reservoirs").body["reservoirs"]
            return reservoir["release"]

        shown = release(standby)
        assert shown is not None and (shown["release_m3s"], shown["by"], shown["cancelled"]) == (
            1200,
            "hydrology-1",
            False,
        )
        assert release(leader) == shown
        assert planner.put("/api/reservoirs/ta-trach/release", {"planned_open": None}).status == 200
        cancelled = release(standby)
        assert cancelled is not None and cancelled["cancelled"] is True
        # The lead is gone while this hub still hands out its engine (the moment before its loss is acted on): the
        # fenced commit refuses the plan, and the client is told to go to the leader.
        leadership.stop()
        late = planner.put("/api/reservoirs/ta-trach/release", PLAN)
        assert late.status == 503 and "no longer leads" in late.body["error"], late.body
        assert release(standby) == cancelled
    finally:
        for api in (leader, standby):
            if api is not None:
                api.close()
        leadership.stop()
        leader_side.close()
        standby_side.close()
        store.close()


def test_views_answer_503_while_postgresql_is_away_and_recover(postgres, config, tmp_path):
    schema = "iocgw_alerts"
    writer = PgAlertStore(postgres.dsn, schema=schema)
    writer.commit([created("heavy_rain", "mua-kim-long", T0)], {"dam:releases": {}}, set())
    writer.close()
    side = ClusterSide.open(postgres.dsn, schema, config)
    api = Api(tmp_path / "hub", alerts=side.reader, rules=side.rules, cluster_engine=lambda: None, view=side.view)
    try:
        client = api.client()
        assert client.get("/api/situation/rain").status == 200
        postgres.kill()
        for path in ("/api/situation/rain", "/api/situation/reservoirs", "/api/map"):
            away = client.get(path)
            # Never an answer without alarms or releases, which would read as "none".
            assert away.status == 503 and "cannot be read now" in away.body["error"], (path, away.body)
        # The configured lists that need no alarm are still answered.
        assert client.get("/api/situation/rivers").status == 200
        postgres.start()
        rain = {g["gauge_id"]: g["alarm_level"] for g in client.get("/api/situation/rain").body["gauges"]}
        assert rain["mua-kim-long"] == 1
    finally:
        api.close()
        side.close()


def test_one_hub_sees_its_engine_through_the_view(single):
    """No cluster: the view is the engine itself, read live (a reload's new gauges, the plan just recorded)."""
    view = LocalEngineView(single.engine)
    single.engine.process(observations(), now=T0)
    assert [a.id for a in view.active()] == [a.id for a in single.engine.active()]
    assert single.api.client(Role.HYDROLOGY).put("/api/reservoirs/ta-trach/release", PLAN).status == 200
    assert view.releases()["ta-trach"]["release_m3s"] == 1200.0
    assert view.config is single.engine.config and view.tables is single.engine.tables
