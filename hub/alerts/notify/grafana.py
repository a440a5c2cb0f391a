"""Grafana target: an annotation per notification through Grafana's HTTP API (``POST /api/annotations``).

A notification becomes a point annotation at the time of the change; a clear becomes a region from the alarm's
start to its clear, so a dashboard shows how long the alarm lasted. Without ``dashboard_uid`` the annotation is an
organisation annotation, which any dashboard shows through the built-in Grafana annotation query filtered by tags.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Any, Literal

import aiohttp
from pydantic import Field, HttpUrl, model_validator

from hub.alerts.alarm import Transition
from hub.alerts.notify._http import USER_AGENT, post
from hub.alerts.notify.base import Notification, Notifier, NotifierConfig, NotifyError
from hub.alerts.notify.registry import register_notifier
from hub.secret import Secret


class GrafanaConfig(NotifierConfig):
    """Which Grafana, with what token, and where the annotations go."""

    type: Literal["grafana"] = "grafana"
    url: HttpUrl = Field(description="Grafana's base URL, e.g. http://grafana:3000 (with any sub-path)")
    token: Secret = Field(description="Service account token with the annotations:write permission")
    dashboard_uid: str | None = Field(None, description="Tie annotations to this dashboard; default: organisation")
    panel_id: int | None = Field(None, ge=1, description="And to this panel of it")
    org_id: int | None = Field(None, ge=1, description="Sent as X-Grafana-Org-Id when the token can see several")
    tags: list[str] = Field(default_factory=list, description="Tags added to the standard ones")
    verify_tls: bool = Field(True, description="Check Grafana's TLS certificate")

    @model_validator(mode="after")
    def _panel_needs_dashboard(self) -> GrafanaConfig:
        if self.panel_id is not None and self.dashboard_uid is None:
            raise ValueError("panel_id needs dashboard_uid")
        return self


def _epoch_ms(ts: datetime) -> int:
    return int(ts.timestamp() * 1000)


def annotation_body(notification: Notification, config: GrafanaConfig) -> dict[str, Any]:
    """The JSON body of the create-annotation request."""
    a = notification.alarm
    # Tags are Grafana's only filter for organisation annotations: keep them few and stable.
    tags = ["iocgw", a.rule, a.severity.value, a.state.value]
    tags += [t for t in config.tags if t not in tags]
    body: dict[str, Any] = {"time": _epoch_ms(notification.event_time), "tags": tags}
    if notification.transition is Transition.CLEARED and a.cleared_at is not None and not notification.escalation:
        body["time"] = _epoch_ms(a.started_at)
        body["timeEnd"] = _epoch_ms(a.cleared_at)
    text = notification.summary()
    if a.value is not None:
        text += f" (value {a.value:g})"
    body["text"] = text
    if config.dashboard_uid is not None:
        body["dashboardUID"] = config.dashboard_uid
    if config.panel_id is not None:
        body["panelId"] = config.panel_id
    return body


@register_notifier("grafana", GrafanaConfig)
class GrafanaNotifier(Notifier):
    """A 200 answer with an annotation id is delivered; HTTP errors follow the webhook's retry rules."""

    config: GrafanaConfig

    def __init__(self, config: NotifierConfig) -> None:
        super().__init__(config)
        self._session: aiohttp.ClientSession | None = None
        self._headers: dict[str, str] = {}
        self._endpoint = str(self.config.url).rstrip("/") + "/api/annotations"

    async def start(self) -> None:
        token = await asyncio.to_thread(self.config.token.read)  # a file, perhaps
        self._headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        if self.config.org_id is not None:
            self._headers["X-Grafana-Org-Id"] = str(self.config.org_id)
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.config.timeout_s), headers={"User-Agent": USER_AGENT}
        )

    async def send(self, notification: Notification) -> None:
        if self._session is None:
            raise NotifyError("grafana notifier not started", retryable=True)
        body = json.dumps(annotation_body(notification, self.config), ensure_ascii=False).encode("utf-8")
        text = await post(
            self._session, f"grafana {self.name}", self._endpoint, body, self._headers, self.config.verify_tls
        )
        try:
            answer = json.loads(text)
        except ValueError:
            answer = None
        if not isinstance(answer, dict) or "id" not in answer:
            # A 200 without an id is not Grafana (a proxy's login page, say): the annotation was not made.
            raise NotifyError(
                f"grafana {self.name} answered 200 without an annotation id: {text[:200]}", retryable=True
            )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
