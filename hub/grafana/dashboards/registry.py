"""Registry of dashboards, keyed by their Grafana uid: each dashboard module registers its ``build()`` builder.

Dashboards take no settings of their own: what differs between installations (data source, folder, contact point)
is the whole bundle's (``hub.grafana.bundle.BundleOptions``), so they register without a config class.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from plumbing.plugins import Registry

DASHBOARDS: Registry[Any] = Registry("dashboard", docs="docs/grafana.md#the-dashboards")

Builder = Callable[[], Any]


def register_dashboard(uid: str) -> Callable[[Builder], Builder]:
    """Decorator on a dashboard module's ``build()``: ``@register_dashboard(UID)``."""
    return DASHBOARDS.register(uid)
