"""Pushing the bundle to a running Grafana through its HTTP API (grafana-client), idempotently.

Each object is read first and written only when it differs, so a second push changes nothing and reports every
object unchanged. "Differs" means: some field we set has another value there; fields Grafana adds on its own
(ids, versions, defaults in stored queries) are not ours to compare. Alert rules and the contact point go with
``X-Disable-Provenance: true`` so people can still edit them in Grafana's UI.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from grafana_client import GrafanaApi
from grafana_client.client import GrafanaClientError, GrafanaException

from hub.grafana.alerting import CONTACT_POINT
from hub.grafana.bundle import Bundle

log = logging.getLogger(__name__)

PUSH_MESSAGE = "iocgw grafana push"


class PushError(Exception):
    """Grafana refused a request or could not be reached; says which object and why."""


@dataclass
class PushReport:
    counts: dict[str, Counter[str]] = field(default_factory=dict)

    def add(self, kind: str, outcome: str) -> None:
        self.counts.setdefault(kind, Counter())[outcome] += 1

    def total(self, outcome: str) -> int:
        return sum(c[outcome] for c in self.counts.values())

    def summary(self) -> str:
        parts = [
            f"{kind}: {c['created']} created, {c['updated']} updated, {c['unchanged']} unchanged"
            for kind, c in self.counts.items()
        ]
        return "; ".join(parts)


def contains(actual: Any, desired: Any) -> bool:
    """Whether ``actual`` holds every value ``desired`` sets (dicts may carry more keys; lists match item by item)."""
    if isinstance(desired, dict):
        return isinstance(actual, dict) and all(k in actual and contains(actual[k], v) for k, v in desired.items())
    if isinstance(desired, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(desired)
            and all(contains(a, d) for a, d in zip(actual, desired, strict=True))
        )
    if isinstance(desired, float) or isinstance(actual, float):
        return isinstance(actual, int | float) and not isinstance(actual, bool) and float(actual) == float(desired)
    return actual == desired


def _missing(exc: GrafanaException) -> bool:
    return isinstance(exc, GrafanaClientError) and exc.status_code == 404


def _describe(what: str, exc: GrafanaException) -> str:
    detail = exc.response.get("message") if isinstance(exc.response, dict) else exc.response
    status = exc.status_code or "no response"
    return f"{what}: Grafana answered {status}: {detail or exc.message}"


def _call(what: str, fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except GrafanaException as exc:
        raise PushError(_describe(what, exc)) from exc
    except OSError as exc:  # niquests' connection errors derive from OSError (IOError)
        raise PushError(f"{what}: cannot reach Grafana: {exc}") from exc


def _get(what: str, fn: Callable[[], Any]) -> Any | None:
    """The object, or None when Grafana says 404."""
    try:
        return fn()
    except GrafanaException as exc:
        if _missing(exc):
            return None
        raise PushError(_describe(what, exc)) from exc
    except OSError as exc:
        raise PushError(f"{what}: cannot reach Grafana: {exc}") from exc


class Pusher:
    def __init__(self, api: GrafanaApi, bundle: Bundle) -> None:
        self.api = api
        self.bundle = bundle
        self.report = PushReport()

    def run(self) -> PushReport:
        # Order matters: rules name the folder, the data source and the contact point; dashboards the folder.
        self.folder()
        self.datasource()
        self.contact_point()
        for d in self.bundle.dashboards:
            self.dashboard(d)
        for r in self.bundle.rules:
            self.rule(r)
        return self.report

    def folder(self) -> None:
        uid, title = self.bundle.folder_uid, self.bundle.folder_title
        current = _get(f"folder {uid}", lambda: self.api.folder.get_folder(uid))
        if current is None:
            _call(f"creating folder {uid}", lambda: self.api.folder.create_folder(title, uid=uid))
            self.report.add("folders", "created")
        elif current.get("title") != title:
            _call(f"renaming folder {uid}", lambda: self.api.folder.update_folder(uid, title=title, overwrite=True))
            self.report.add("folders", "updated")
        else:
            self.report.add("folders", "unchanged")

    def datasource(self) -> None:
        ds = self.bundle.datasource
        uid = ds["uid"]
        current = _get(f"data source {uid}", lambda: self.api.datasource.get_datasource_by_uid(uid))
        if current is None:
            _call(f"creating data source {uid}", lambda: self.api.datasource.create_datasource(ds))
            self.report.add("datasources", "created")
        elif not contains(current, ds):
            _call(f"updating data source {uid}", lambda: self.api.datasource.update_datasource_by_uid(uid, ds))
            self.report.add("datasources", "updated")
        else:
            self.report.add("datasources", "unchanged")

    def contact_point(self) -> None:
        cp = self.bundle.contact_point
        uid = cp["uid"]
        found = _call("listing contact points", lambda: self.api.alertingprovisioning.get_contactpoints(CONTACT_POINT))
        current = next((c for c in found or [] if c.get("uid") == uid), None)
        ap = self.api.alertingprovisioning
        self._upsert(
            "contact_points",
            f"contact point {uid}",
            current,
            cp,
            lambda: ap.create_contactpoint(cp, disable_provenance=True),
            lambda: ap.update_contactpoint(uid, cp, disable_provenance=True),
        )

    def _upsert(
        self,
        kind: str,
        what: str,
        current: Any,
        desired: dict[str, Any],
        create: Callable[[], Any],
        update: Callable[[], Any],
    ) -> None:
        """Create what is missing, update what differs, leave the rest: a second push changes nothing."""
        if current is None:
            _call(f"creating {what}", create)
            self.report.add(kind, "created")
        elif not contains(current, desired):
            _call(f"updating {what}", update)
            self.report.add(kind, "updated")
        else:
            self.report.add(kind, "unchanged")

    def dashboard(self, dashboard: dict[str, Any]) -> None:
        uid = dashboard["uid"]
        current = _get(f"dashboard {uid}", lambda: self.api.dashboard.get_dashboard(uid))
        if current is not None:
            same_folder = (current.get("meta") or {}).get("folderUid") == self.bundle.folder_uid
            if same_folder and contains(current.get("dashboard"), dashboard):
                self.report.add("dashboards", "unchanged")
                return
        body = {
            "dashboard": {**dashboard, "id": None},
            "folderUid": self.bundle.folder_uid,
            "overwrite": True,
            "message": PUSH_MESSAGE,
        }
        _call(f"saving dashboard {uid}", lambda: self.api.dashboard.update_dashboard(body))
        self.report.add("dashboards", "created" if current is None else "updated")

    def rule(self, rule: dict[str, Any]) -> None:
        uid = rule["uid"]
        ap = self.api.alertingprovisioning
        current = _get(f"alert rule {uid}", lambda: ap.get_alertrule(uid))
        self._upsert(
            "alert_rules",
            f"alert rule {uid}",
            current,
            rule,
            lambda: ap.create_alertrule(rule, disable_provenance=True),
            lambda: ap.update_alertrule(uid, rule, disable_provenance=True),
        )


def connect(url: str, token: str, timeout_s: float = 10.0) -> GrafanaApi:
    """A client for ``url`` (e.g. http://grafana:3000, or with a sub-path) sending ``Authorization: Bearer``."""
    return GrafanaApi.from_url(url, credential=token, timeout=timeout_s)


def push(api: GrafanaApi, bundle: Bundle) -> PushReport:
    return Pusher(api, bundle).run()
