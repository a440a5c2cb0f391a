"""A typed InfluxQL dataquery for grafana-foundation-sdk, which ships none, and Grafana's variable substitution.

The query is registered as the SDK's ``influxdb`` dataquery variant, so a dashboard decoded with
``Dashboard.from_json`` gets :class:`InfluxQLQuery` targets back instead of untyped dicts.
"""

from __future__ import annotations

import json
import re
import typing
from datetime import datetime

from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import runtime as cogruntime
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard

DATASOURCE_TYPE = "influxdb"
ResultFormat = typing.Literal["time_series", "table"]


class InfluxQLQuery(cogvariants.Dataquery):
    """The JSON Grafana's InfluxDB data source keeps for a raw InfluxQL query (``rawQuery: true``)."""

    def __init__(
        self,
        ref_id: str = "",
        query: str = "",
        raw_query: bool = True,
        result_format: ResultFormat = "time_series",
        alias: str | None = None,
        hide: bool | None = None,
        datasource: dashboard.DataSourceRef | None = None,
    ) -> None:
        self.ref_id = ref_id
        self.query = query
        self.raw_query = raw_query
        self.result_format = result_format
        self.alias = alias
        self.hide = hide
        self.datasource = datasource

    def to_json(self) -> dict[str, object]:
        payload: dict[str, object] = {
            "refId": self.ref_id,
            "query": self.query,
            "rawQuery": self.raw_query,
            "resultFormat": self.result_format,
        }
        if self.alias is not None:
            payload["alias"] = self.alias
        if self.hide is not None:
            payload["hide"] = self.hide
        if self.datasource is not None:
            payload["datasource"] = self.datasource
        return payload

    @classmethod
    def from_json(cls, data: dict[str, typing.Any]) -> InfluxQLQuery:
        ds = data.get("datasource")
        return cls(
            ref_id=data.get("refId", ""),
            query=data.get("query", ""),
            raw_query=data.get("rawQuery", True),
            result_format=data.get("resultFormat", "time_series"),
            alias=data.get("alias"),
            hide=data.get("hide"),
            datasource=dashboard.DataSourceRef.from_json(ds) if isinstance(ds, dict) else ds,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, InfluxQLQuery):
            return NotImplemented
        return json.dumps(self, cls=JSONEncoder, sort_keys=True) == json.dumps(other, cls=JSONEncoder, sort_keys=True)

    __hash__ = None  # type: ignore[assignment]  # mutable, like every SDK model


class InfluxQL(cogbuilder.Builder[InfluxQLQuery]):
    """Builder in the SDK's style: ``InfluxQL("A").query("SELECT ...").table()``."""

    def __init__(self, ref_id: str = "A") -> None:
        self._internal = InfluxQLQuery(ref_id=ref_id)

    def build(self) -> InfluxQLQuery:
        return self._internal

    def ref_id(self, ref_id: str) -> typing.Self:
        self._internal.ref_id = ref_id
        return self

    def query(self, query: str) -> typing.Self:
        self._internal.query = " ".join(query.split())  # one line, as Grafana's editor stores it
        return self

    def table(self) -> typing.Self:
        """Table frames: tags become columns (what Geomap, tables and joins need)."""
        self._internal.result_format = "table"
        return self

    def alias(self, alias: str) -> typing.Self:
        self._internal.alias = alias
        return self

    def hide(self, hide: bool) -> typing.Self:
        self._internal.hide = hide
        return self

    def datasource(self, datasource: dashboard.DataSourceRef) -> typing.Self:
        self._internal.datasource = datasource
        return self


def register() -> None:
    """Make ``Dashboard.from_json`` decode ``influxdb`` targets as :class:`InfluxQLQuery` (idempotent)."""
    cogruntime.register_dataquery_variant(
        cogruntime.DataqueryConfig(identifier=DATASOURCE_TYPE, from_json_hook=InfluxQLQuery.from_json)
    )


# -- Grafana's interpolation of an InfluxQL query ----------------------------------------------------------------
_VARIABLE = re.compile(r"\$\{(\w+)(?::(\w+))?\}|\$(\w+)")
_REGEX_LITERAL = re.compile(r"(=~|!~)(\s*)/((?:\\.|[^/\\])*)/")


def _regex_value(values: list[str]) -> str:
    escaped = [re.sub(r"([\\/.^$*+?()\[\]{}|-])", r"\\\1", v) for v in values]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def render(
    query: str,
    variables: dict[str, str | list[str]],
    time_from: datetime,
    time_to: datetime,
    interval: str = "1m",
) -> str:
    """The query as Grafana's InfluxDB data source sends it: ``$timeFilter``, ``$__interval`` and template
    variables substituted. Inside a ``=~ /.../`` regex values are regex-escaped (several as ``(a|b)``), elsewhere
    joined with commas, as Grafana does; an unknown variable is an error rather than a silently wrong query."""

    def ms(t: datetime) -> int:
        return int(t.timestamp() * 1000)

    builtins = {
        "timeFilter": f"time >= {ms(time_from)}ms and time <= {ms(time_to)}ms",
        "__interval": interval,
    }

    def value(m: re.Match[str], in_regex: bool) -> str:
        name = m.group(1) or m.group(3)
        if name in builtins:
            return builtins[name]
        if name not in variables:
            raise KeyError(f"query uses ${name}, which has no value: {query}")
        raw = variables[name]
        values = raw if isinstance(raw, list) else [raw]
        return _regex_value(values) if in_regex or m.group(2) == "regex" else ",".join(values)

    def regex_literal(m: re.Match[str]) -> str:
        body = _VARIABLE.sub(lambda v: value(v, True), m.group(3))
        return f"{m.group(1)}{m.group(2)}/{body}/"

    # Regex literals first (placeholders inside them are regex-escaped), then everything else as plain text.
    parts = []
    last = 0
    for m in _REGEX_LITERAL.finditer(query):
        parts.append(_VARIABLE.sub(lambda v: value(v, False), query[last : m.start()]))
        parts.append(regex_literal(m))
        last = m.end()
    parts.append(_VARIABLE.sub(lambda v: value(v, False), query[last:]))
    return "".join(parts)
