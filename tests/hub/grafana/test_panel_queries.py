"""Every panel query of every dashboard, its template variables substituted with real values, runs against the
real InfluxDB the simulator filled through the hub, and returns the series and fields the panel draws."""

from __future__ import annotations

import re
from typing import Any

import pytest

from hub.grafana.alerting import rules
from hub.grafana.bundle import dashboard_json
from hub.grafana.dashboards import MODULES
from tests.hub.grafana.conftest import FilledInflux
from tests.hub.grafana.influx_series import grouped_tags, interpolate, non_null_columns, run, selected_columns
from tests.hub.grafana.sample_data import FORECAST_ISSUED, OLDER_ISSUE_LEVEL, WHOLE_RANGE

DASHBOARDS = {m.UID: dashboard_json(m) for m in MODULES}


def _targets() -> list[Any]:
    out = []
    for uid, d in DASHBOARDS.items():
        for panel in d["panels"]:
            for t in panel.get("targets") or []:
                out.append(pytest.param(uid, panel, t, id=f"{uid}:{panel['title']}:{t['refId']}"))
    return out


def variable_values(filled: FilledInflux, dashboard: dict[str, Any]) -> dict[str, str | list[str]]:
    """Each variable as Grafana resolves it, in order (later queries use earlier values): every value selected."""
    values: dict[str, str | list[str]] = {}
    for v in dashboard["templating"]["list"]:
        if v["type"] == "textbox":
            values[v["name"]] = v["query"]
            continue
        series = run(filled.url, filled.database, interpolate(v["query"], values, WHOLE_RANGE))
        found = [row[-1] for s in series for row in s["values"]]
        if v.get("regex"):
            pattern = re.compile(v["regex"].strip("/"))
            found = [m.group(1) for f in found if (m := pattern.search(f))]
        values[v["name"]] = sorted(set(found))
    return values


@pytest.mark.parametrize("uid", list(DASHBOARDS))
def test_every_template_variable_finds_values(filled_influx: FilledInflux, uid: str) -> None:
    values = variable_values(filled_influx, DASHBOARDS[uid])
    empty = [name for name, v in values.items() if not v]
    assert not empty, f"variables with no values: {empty}"
    if "province" in values:
        assert set(values["province"]) >= {"01", "42"}, values["province"]


@pytest.mark.parametrize(("uid", "panel", "target"), _targets())
def test_panel_query_returns_the_fields_it_draws(filled_influx: FilledInflux, uid: str, panel: dict, target: dict):
    variables = variable_values(filled_influx, DASHBOARDS[uid])
    sql = interpolate(target["query"], variables, WHOLE_RANGE)
    series = run(filled_influx.url, filled_influx.database, sql)
    assert series, f"no series for {sql}"
    expected = set(selected_columns(target["query"]))
    if target["resultFormat"] == "table":
        expected |= set(grouped_tags(target["query"]))  # Grafana turns them into columns
    missing = expected - non_null_columns(series)
    assert not missing, f"{sorted(missing)} never has a value in {sql}"
    if panel["type"] == "geomap":
        assert {"lat", "lon"} <= expected, "a Geomap layer needs lat and lon fields"


@pytest.mark.parametrize("rule", rules("iocgw"), ids=lambda r: r["uid"])
def test_alert_rule_query_returns_one_series_per_subject(filled_influx: FilledInflux, rule: dict) -> None:
    (source,) = [q for q in rule["data"] if q["datasourceUid"] != "__expr__"]
    sql = interpolate(source["model"]["query"], {}, WHOLE_RANGE)
    series = run(filled_influx.url, filled_influx.database, sql)
    (tag,) = grouped_tags(source["model"]["query"])
    assert series and all(s["tags"][tag] for s in series), sql


FORECAST_PANELS = [
    ("iocgw-hydrology", "Dự báo mực nước $station", "C"),
    ("iocgw-dam-safety", "Dự báo mực nước hồ $reservoir", "C"),
]


def _target(uid: str, title: str, ref: str) -> dict[str, Any]:
    panel = next(p for p in DASHBOARDS[uid]["panels"] if p["title"].startswith(title))
    return next(t for t in panel["targets"] if t["refId"] == ref)


@pytest.mark.parametrize(("uid", "title", "levels_ref"), FORECAST_PANELS)
def test_forecast_panel_draws_the_newest_issue_against_the_alarm_levels(
    filled_influx: FilledInflux, uid: str, title: str, levels_ref: str
) -> None:
    variables = variable_values(filled_influx, DASHBOARDS[uid])
    issued_ms = int(FORECAST_ISSUED.timestamp() * 1000)
    sql = interpolate(_target(uid, title, "B")["query"], variables, WHOLE_RANGE)
    series = run(filled_influx.url, filled_influx.database, sql)
    model = [row for s in series if s["tags"]["source"] == "model" for row in s["values"]]
    after = [row[1] for row in model if row[0] > issued_ms]
    before = [row[1] for row in model if row[0] <= issued_ms]
    # From its issue time on, the line is the newest issue's 24 hours; before it, the older issue's short leads.
    assert len(after) == 24 and OLDER_ISSUE_LEVEL not in after
    assert before and all(v >= OLDER_ISSUE_LEVEL for v in before)
    # The alarm (or named) levels carry on over the forecast hours, so the two lines can be compared there.
    levels = run(
        filled_influx.url,
        filled_influx.database,
        interpolate(_target(uid, title, levels_ref)["query"], variables, WHOLE_RANGE),
    )
    ahead = [row for s in levels for row in s["values"] if row[0] > issued_ms + 23 * 3_600_000]
    assert ahead and all(v is not None for row in ahead for v in row[1:])


def test_forecast_peaks_table_shows_each_sources_newest_peak(filled_influx: FilledInflux) -> None:
    uid = "iocgw-hydrology"
    variables = variable_values(filled_influx, DASHBOARDS[uid])
    sql = interpolate(_target(uid, "Đỉnh dự báo", "A")["query"], variables, WHOLE_RANGE)
    rows = {
        (s["tags"]["station_id"], s["tags"]["source"]): s["values"][0]
        for s in run(filled_influx.url, filled_influx.database, sql)
    }
    official = [k for k in rows if k[1] == "official"]
    assert len(official) == 1 and rows[official[0]][1] == pytest.approx(8.4)
    assert rows[official[0]][2] == int(FORECAST_ISSUED.timestamp() * 1000) and rows[official[0]][3] == "Đài KTTV"
    assert all(r[1] == pytest.approx(6.2) for k, r in rows.items() if k[1] == "model")
