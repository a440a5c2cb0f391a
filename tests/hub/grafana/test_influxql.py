"""The InfluxQL dataquery variant and Grafana's variable interpolation."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from grafana_foundation_sdk.cog import runtime
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from hub.grafana.common import DATASOURCE
from hub.grafana.influxql import InfluxQL, InfluxQLQuery, register, render

T0, T1 = datetime(2026, 10, 28, tzinfo=UTC), datetime(2026, 10, 29, tzinfo=UTC)


def test_builder_encodes_grafanas_raw_influxql_query() -> None:
    q = (
        InfluxQL("B")
        .query('SELECT last("level")\n   FROM "flood_level"')
        .table()
        .alias("$tag_area")
        .datasource(DATASOURCE)
    )
    assert json.loads(json.dumps(q.build(), cls=JSONEncoder)) == {
        "refId": "B",
        "query": 'SELECT last("level") FROM "flood_level"',
        "rawQuery": True,
        "resultFormat": "table",
        "alias": "$tag_area",
        "datasource": {"type": "influxdb", "uid": "iocgw-influxdb"},
    }


def test_registered_variant_decodes_influxdb_targets() -> None:
    register()
    data = {"refId": "A", "query": "SELECT 1", "rawQuery": True, "resultFormat": "time_series"}
    decoded = runtime.dataquery_from_json({**data, "datasource": {"type": "influxdb", "uid": "x"}}, "")
    assert isinstance(decoded, InfluxQLQuery)
    assert decoded.to_json()["query"] == "SELECT 1"
    assert decoded == InfluxQLQuery.from_json(decoded.to_json())


def test_time_filter_and_interval() -> None:
    out = render("SELECT mean(v) FROM m WHERE $timeFilter GROUP BY time($__interval)", {}, T0, T1, "5m")
    assert out == (
        f"SELECT mean(v) FROM m WHERE time >= {int(T0.timestamp() * 1000)}ms and "
        f"time <= {int(T1.timestamp() * 1000)}ms GROUP BY time(5m)"
    )


def test_values_inside_a_regex_are_escaped_and_alternated() -> None:
    out = render('SELECT "x" AS "m/h" FROM m WHERE "s" =~ /^$station$/', {"station": ["a.b", "c(1)"]}, T0, T1)
    assert out == r'SELECT "x" AS "m/h" FROM m WHERE "s" =~ /^(a\.b|c\(1\))$/'
    assert render('WHERE "p" =~ /^${p:regex}/', {"p": "01"}, T0, T1) == 'WHERE "p" =~ /^01/'


def test_outside_a_regex_values_are_plain() -> None:
    assert render("WHERE a = '$x'", {"x": "v1"}, T0, T1) == "WHERE a = 'v1'"


def test_an_unknown_variable_is_an_error() -> None:
    with pytest.raises(KeyError, match=r"\$nope"):
        render("WHERE a = '$nope'", {}, T0, T1)
